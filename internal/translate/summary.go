package translate

import (
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-gw/portico/internal/resource"
)

// Summary is what a user migrating from Envoy Gateway reads first: every
// object by kind and state, what needs attention, and which features are
// not supported. It is built from the status conditions alone, whatever
// the kind, so a kind that gains a status is counted without a change here.
type Summary struct {
	// Kinds counts objects with a status by kind and state.
	Kinds map[string]map[State]int
	// Attention lists objects not accepted, or accepted with a problem:
	// one line each, naming the condition.
	Attention []string
	// Unsupported names the features reported as unsupported.
	Unsupported []string
	// Inputs counts objects read that have no status of their own
	// (Services, Secrets, ...), by kind.
	Inputs map[string]int
	// LeftOut counts objects left out of the translation for problems.
	LeftOut int
	// ExtensionErrors are extension hook failures without failOpen.
	ExtensionErrors []string
}

// State is an object's state as its conditions tell it.
type State string

const (
	// Accepted: every Accepted condition is True and nothing is wrong.
	Accepted State = "accepted"
	// Degraded: accepted, but a reference is unresolved, something is not
	// programmed, invalid in part, overridden or in conflict.
	Degraded State = "accepted with problems"
	// NotAccepted: some Accepted condition is False.
	NotAccepted State = "not accepted"
	// NoStatus: the object has no condition at all.
	NoStatus State = "no status"
)

var states = []State{Accepted, Degraded, NotAccepted, NoStatus}

// summarize builds the summary from the objects with status in out, the
// input set and the problems.
func summarize(out Output, set *resource.Set, problems resource.Problems, extErrs []string) *Summary {
	s := &Summary{Kinds: map[string]map[State]int{}, Inputs: inputKinds(set, out), ExtensionErrors: extErrs}
	for _, key := range slices.Sorted(maps.Keys(out)) {
		for _, obj := range objectsUnder(out[key]) {
			s.add(obj)
		}
	}
	docs := map[string]bool{}
	for _, p := range problems {
		docs[fmt.Sprintf("%s#%d", p.File, p.Doc)] = true
	}
	s.LeftOut = len(docs)
	return s
}

// objectsUnder is the objects of one output key (one object or a list).
func objectsUnder(v any) []runtime.Object {
	switch t := v.(type) {
	case runtime.Object:
		return []runtime.Object{t}
	case []any:
		var out []runtime.Object
		for _, x := range t {
			if o, ok := x.(runtime.Object); ok {
				out = append(out, o)
			}
		}
		return out
	}
	return nil
}

func (s *Summary) add(obj runtime.Object) {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	name := ""
	if m, ok := obj.(metav1.Object); ok {
		name = m.GetName()
		if m.GetNamespace() != "" {
			name = m.GetNamespace() + "/" + m.GetName()
		}
	}
	own, nested := conditionsOf(obj)
	state := stateOf(own, nested)
	conds := append(own, nested...)
	if s.Kinds[kind] == nil {
		s.Kinds[kind] = map[State]int{}
	}
	s.Kinds[kind][state]++
	if state == NotAccepted || state == Degraded {
		if c := worst(conds); c != nil {
			s.Attention = append(s.Attention, fmt.Sprintf("%s %s: %s=%s %s: %s", kind, name, c.Type, c.Status, c.Reason, oneLine(c.Message)))
		}
	}
	seen := map[string]bool{}
	for _, c := range conds {
		if strings.HasPrefix(c.Reason, "Unsupported") || strings.Contains(c.Message, "not supported") {
			line := fmt.Sprintf("%s %s: %s", kind, name, oneLine(c.Message))
			if !seen[line] {
				seen[line] = true
				s.Unsupported = append(s.Unsupported, line)
			}
		}
	}
}

// stateOf reads the conditions. An object is not accepted when its own
// Accepted is False, or, for objects whose status is per parent or
// ancestor (routes, policies), when one of those is; a Gateway with a
// listener not accepted is accepted with problems. Types whose True is bad
// are Gateway API's and Envoy Gateway's (Conflicted, PartiallyInvalid,
// Overridden).
func stateOf(own, nested []metav1.Condition) State {
	if len(own) == 0 && len(nested) == 0 {
		return NoStatus
	}
	st := Accepted
	for i, c := range append(own, nested...) {
		isOwn := i < len(own)
		switch {
		case c.Type == "Accepted" && c.Status == metav1.ConditionFalse && (isOwn || len(own) == 0):
			return NotAccepted
		case c.Type == "Accepted" && c.Status == metav1.ConditionFalse,
			c.Status == metav1.ConditionFalse && (c.Type == "ResolvedRefs" || c.Type == "Programmed"),
			c.Status == metav1.ConditionTrue && (c.Type == "Conflicted" || c.Type == "PartiallyInvalid" || c.Type == "Overridden"):
			st = Degraded
		}
	}
	return st
}

// worst is the condition that explains the state: a False Accepted first,
// then any other bad one.
func worst(conds []metav1.Condition) *metav1.Condition {
	var bad *metav1.Condition
	for i := range conds {
		c := &conds[i]
		if c.Type == "Accepted" && c.Status == metav1.ConditionFalse {
			return c
		}
		if bad == nil && stateOf(nil, []metav1.Condition{*c}) == Degraded {
			bad = c
		}
	}
	return bad
}

var conditionsType = reflect.TypeFor[[]metav1.Condition]()

// conditionsOf collects the object's own conditions (Status.Conditions)
// and every other condition list under its Status (its listeners', its
// parents', its ancestors').
func conditionsOf(obj runtime.Object) (own, nested []metav1.Condition) {
	v := reflect.ValueOf(obj)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, nil
	}
	status := v.FieldByName("Status")
	if !status.IsValid() {
		return nil, nil
	}
	if status.Kind() == reflect.Struct {
		if f := status.FieldByName("Conditions"); f.IsValid() && f.Type() == conditionsType {
			own = f.Interface().([]metav1.Condition)
		}
	}
	var all []metav1.Condition
	collectConditions(status, &all)
	return own, all[len(own):]
}

func collectConditions(v reflect.Value, out *[]metav1.Condition) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectConditions(v.Elem(), out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				collectConditions(v.Field(i), out)
			}
		}
	case reflect.Slice:
		if v.Type() == conditionsType {
			*out = append(*out, v.Interface().([]metav1.Condition)...)
			return
		}
		if k := v.Type().Elem().Kind(); k == reflect.Struct || k == reflect.Pointer {
			for i := 0; i < v.Len(); i++ {
				collectConditions(v.Index(i), out)
			}
		}
	}
}

// inputKinds counts the input objects of kinds that have no entry in the
// output (they are read for other objects' sake).
func inputKinds(set *resource.Set, out Output) map[string]int {
	shown := map[string]bool{}
	for _, v := range out {
		for _, o := range objectsUnder(v) {
			shown[o.GetObjectKind().GroupVersionKind().Kind] = true
		}
	}
	counts := map[string]int{}
	if set == nil {
		return counts
	}
	v := reflect.ValueOf(set).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Slice {
			continue
		}
		for j := 0; j < f.Len(); j++ {
			o, ok := f.Index(j).Interface().(runtime.Object)
			if !ok {
				continue
			}
			kind := o.GetObjectKind().GroupVersionKind().Kind
			if kind == "" {
				kind = v.Type().Field(i).Name
			}
			if !shown[kind] {
				counts[kind]++
			}
		}
	}
	return counts
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// maxLines bounds each list of the printed summary.
const maxLines = 40

// Write prints the summary for a person (x translate writes it to stderr,
// leaving stdout to egctl's document).
func (s *Summary) Write(w io.Writer) error {
	var b strings.Builder
	total := 0
	for _, byState := range s.Kinds {
		for _, n := range byState {
			total += n
		}
	}
	fmt.Fprintf(&b, "summary: %d object(s) translated\n", total)
	for _, kind := range slices.Sorted(maps.Keys(s.Kinds)) {
		var parts []string
		for _, st := range states {
			if n := s.Kinds[kind][st]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, st))
			}
		}
		fmt.Fprintf(&b, "  %-24s %s\n", kind, strings.Join(parts, ", "))
	}
	if len(s.Inputs) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.Inputs)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, s.Inputs[k]))
		}
		fmt.Fprintf(&b, "  read, without a status of their own: %s\n", strings.Join(parts, ", "))
	}
	if s.LeftOut > 0 {
		fmt.Fprintf(&b, "  left out for problems in the input: %d document(s) (see the problem lines)\n", s.LeftOut)
	}
	list(&b, "needs attention", s.Attention)
	list(&b, "not supported", s.Unsupported)
	list(&b, "extension hooks that failed (failOpen: false)", s.ExtensionErrors)
	_, err := io.WriteString(w, b.String())
	return err
}

func list(b *strings.Builder, title string, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "%s:\n", title)
	for i, l := range lines {
		if i == maxLines {
			fmt.Fprintf(b, "  ... and %d more\n", len(lines)-maxLines)
			break
		}
		fmt.Fprintf(b, "  %s\n", l)
	}
}
