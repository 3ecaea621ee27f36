package resource

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fieldProblem is a problem found by the schema walk, before it gets its file position.
type fieldProblem struct {
	path []pathElem
	msg  string
}

// walker validates a generic object against a compiled schema and, like the API server,
// prunes nulls and applies defaults on the way down (defaults first, then validation,
// so a defaulted field satisfies "required" and list-map keys see defaulted values).
//
// valueOnly walks run inside allOf/anyOf/oneOf/not branches: those only constrain
// values, so they neither default nor report unknown fields. quiet walks only answer
// "does it match?" and stop recording.
type walker struct {
	path      []pathElem
	problems  []fieldProblem
	valueOnly bool
	quiet     bool
	failed    bool
}

func (w *walker) fail(msg string) {
	if w.quiet {
		w.failed = true
		return
	}
	w.problems = append(w.problems, fieldProblem{path: clonePath(w.path), msg: msg})
}

func (w *walker) push(e pathElem) { w.path = append(w.path, e) }
func (w *walker) pop()            { w.path = w.path[:len(w.path)-1] }

func (w *walker) walk(s *schema, v any) {
	if w.quiet && w.failed {
		return
	}
	if v == nil {
		if !s.nullable && (s.typ != "" || s.intOrString) {
			w.fail(field.Invalid(nil, "null", "must not be null").ErrorBody())
		}
		return
	}
	if !w.typeOK(s, v) {
		return
	}
	if len(s.enum) > 0 && !enumHas(s.enum, v) {
		w.fail(field.NotSupported(nil, badValue(v), enumStrings(s.enum)).ErrorBody())
	}
	switch t := v.(type) {
	case string:
		w.str(s, t)
	case int64:
		w.number(s, float64(t), t)
	case float64:
		w.number(s, t, t)
	case []any:
		w.array(s, t)
	case map[string]any:
		w.object(s, t)
	}
	w.combinators(s, v)
}

func (w *walker) typeOK(s *schema, v any) bool {
	if s.intOrString {
		switch v.(type) {
		case int64, string:
			return true
		}
		w.fail(field.Invalid(nil, badValue(v), "must be an integer or a string").ErrorBody())
		return false
	}
	ok := true
	switch s.typ {
	case "":
		return true
	case "object":
		_, ok = v.(map[string]any)
	case "array":
		_, ok = v.([]any)
	case "string":
		_, ok = v.(string)
	case "integer":
		_, ok = v.(int64)
	case "number":
		switch v.(type) {
		case int64, float64:
		default:
			ok = false
		}
	case "boolean":
		_, ok = v.(bool)
	}
	if !ok {
		w.fail(field.Invalid(nil, badValue(v), "must be of type "+s.typ).ErrorBody())
	}
	return ok
}

func (w *walker) str(s *schema, v string) {
	if s.maxLen >= 0 || s.minLen >= 0 {
		n := int64(utf8.RuneCountInString(v))
		if s.maxLen >= 0 && n > s.maxLen {
			w.fail(field.TooLongCharacters(nil, "", int(s.maxLen)).ErrorBody())
		}
		if s.minLen >= 0 && n < s.minLen {
			w.fail(field.Invalid(nil, v, fmt.Sprintf("must be at least %d characters long", s.minLen)).ErrorBody())
		}
	}
	if s.pattern != nil && !s.pattern.MatchString(v) {
		w.fail(field.Invalid(nil, v, "should match '"+s.pattern.String()+"'").ErrorBody())
	}
	if s.format != "" && !formatOK(s.format, v) {
		w.fail(field.Invalid(nil, v, "must be of format "+s.format).ErrorBody())
	}
}

func (w *walker) number(s *schema, f float64, v any) {
	if m := s.minimum; m != nil && (f < *m || (s.exclMin && f == *m)) {
		op := "greater than or equal to"
		if s.exclMin {
			op = "greater than"
		}
		w.fail(field.Invalid(nil, v, fmt.Sprintf("must be %s %v", op, *m)).ErrorBody())
	}
	if m := s.maximum; m != nil && (f > *m || (s.exclMax && f == *m)) {
		op := "less than or equal to"
		if s.exclMax {
			op = "less than"
		}
		w.fail(field.Invalid(nil, v, fmt.Sprintf("must be %s %v", op, *m)).ErrorBody())
	}
}

func (w *walker) array(s *schema, a []any) {
	if s.maxItems >= 0 && int64(len(a)) > s.maxItems {
		w.fail(field.TooMany(nil, len(a), int(s.maxItems)).ErrorBody())
	}
	if s.minItems >= 0 && int64(len(a)) < s.minItems {
		w.fail(field.Invalid(nil, int64(len(a)), fmt.Sprintf("must have at least %d items", s.minItems)).ErrorBody())
	}
	if s.items != nil {
		for i, it := range a {
			w.push(indexElem(i))
			w.walk(s.items, it)
			w.pop()
		}
	}
	// Uniqueness after the items walk, so defaulted map keys take part (API server order).
	switch s.listType {
	case "set":
		w.unique(a, func(v any) (any, bool) { return v, true })
	case "map":
		if len(s.listMapKeys) > 0 {
			w.unique(a, func(v any) (any, bool) {
				m, ok := v.(map[string]any)
				if !ok {
					return nil, false
				}
				k := make(map[string]any, len(s.listMapKeys))
				for _, name := range s.listMapKeys {
					if x, ok := m[name]; ok {
						k[name] = x
					}
				}
				return k, true
			})
		}
	}
}

// unique reports every item whose key was already seen, at the later item's index.
func (w *walker) unique(a []any, key func(any) (any, bool)) {
	if len(a) < 2 {
		return
	}
	seen := make(map[string]bool, len(a))
	for i, it := range a {
		k, ok := key(it)
		if !ok {
			continue
		}
		b, err := json.Marshal(k)
		if err != nil {
			continue
		}
		if seen[string(b)] {
			w.push(indexElem(i))
			w.fail(field.Duplicate(nil, badValue(k)).ErrorBody())
			w.pop()
			continue
		}
		seen[string(b)] = true
	}
}

func (w *walker) object(s *schema, m map[string]any) {
	if !w.valueOnly {
		for k, v := range m {
			if v == nil {
				if ps := s.props[k]; ps != nil && !ps.nullable {
					delete(m, k) // the API server prunes nulls of non-nullable fields
				}
			}
		}
		for _, name := range s.defaulted {
			if _, ok := m[name]; !ok {
				m[name] = deepCopy(s.props[name].def)
			}
		}
	}
	for _, r := range s.required {
		if _, ok := m[r]; !ok {
			w.push(fieldElem(r))
			w.fail(field.Required(nil, "").ErrorBody())
			w.pop()
		}
	}
	if s.maxProps >= 0 && int64(len(m)) > s.maxProps {
		w.fail(field.TooMany(nil, len(m), int(s.maxProps)).ErrorBody())
	}
	if s.minProps >= 0 && int64(len(m)) < s.minProps {
		w.fail(field.Invalid(nil, int64(len(m)), fmt.Sprintf("must have at least %d properties", s.minProps)).ErrorBody())
	}
	for k, v := range m {
		if ps := s.props[k]; ps != nil {
			w.push(fieldElem(k))
			w.walk(ps, v)
			w.pop()
			continue
		}
		if s.additional != nil {
			w.push(keyElem(k))
			w.walk(s.additional, v)
			w.pop()
			continue
		}
		if s.addAny || s.preserve || w.valueOnly ||
			(s.embedded && (k == "apiVersion" || k == "kind" || k == "metadata")) {
			continue
		}
		w.push(fieldElem(k))
		w.fail(unknownField(k, s.propNames))
		w.pop()
	}
}

func (w *walker) combinators(s *schema, v any) {
	if s.allOf == nil && s.anyOf == nil && s.oneOf == nil && s.not == nil {
		return
	}
	for _, sub := range s.allOf {
		saved := w.valueOnly
		w.valueOnly = true
		w.walk(sub, v)
		w.valueOnly = saved
	}
	if len(s.anyOf) > 0 {
		ok := false
		for _, sub := range s.anyOf {
			if w.matches(sub, v) {
				ok = true
				break
			}
		}
		if !ok {
			w.fail(field.Invalid(nil, badValue(v), "must validate at least one schema (anyOf)").ErrorBody())
		}
	}
	if len(s.oneOf) > 0 {
		n := 0
		for _, sub := range s.oneOf {
			if w.matches(sub, v) {
				n++
			}
		}
		if n != 1 {
			w.fail(field.Invalid(nil, badValue(v), "must validate one and only one schema (oneOf)").ErrorBody())
		}
	}
	if s.not != nil && w.matches(s.not, v) {
		w.fail(field.Invalid(nil, badValue(v), "must not validate the schema (not)").ErrorBody())
	}
}

func (w *walker) matches(s *schema, v any) bool {
	sub := walker{valueOnly: true, quiet: true}
	sub.walk(s, v)
	return !sub.failed
}

// unknownField names the field and, when one known field is close, suggests it.
// Close means a typo: one edit in a short name, two in a longer one. Two
// edits of four letters is another word ("csrf" is not a misspelt "cors").
func unknownField(name string, known []string) string {
	msg := fmt.Sprintf("unknown field %q", name)
	limit := 2 // distances below limit are suggested
	if len(name) >= 6 {
		limit = 3
	}
	best, bestD := "", limit
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k), bestD); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(", did you mean %q?", best)
	}
	return msg
}

// editDistance is Levenshtein distance, giving up (returning limit) once it exceeds limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func enumHas(enum []any, v any) bool {
	for _, e := range enum {
		if e == v {
			return true
		}
		// Schema numbers may be int or float; compare numerically.
		if ef, ok := toFloat(e); ok {
			if vf, ok := toFloat(v); ok && ef == vf {
				return true
			}
		}
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func enumStrings(enum []any) []string {
	out := make([]string, len(enum))
	for i, e := range enum {
		out[i] = fmt.Sprint(e)
	}
	return out
}

// badValue keeps messages short: scalars are quoted as-is, objects and lists are named
// by type (the API server prints them whole, which buries the message).
func badValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if len(t) <= 3 && isFlat(t) {
			return t
		}
		return "object"
	case []any:
		return "array"
	}
	return v
}

func isFlat(m map[string]any) bool {
	for _, v := range m {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func formatOK(format, v string) bool {
	switch format {
	case "ipv4":
		a, err := netip.ParseAddr(v)
		return err == nil && a.Is4()
	case "ipv6":
		a, err := netip.ParseAddr(v)
		return err == nil && a.Is6()
	case "cidr":
		_, err := netip.ParsePrefix(v)
		return err == nil
	case "date-time":
		_, err := time.Parse(time.RFC3339Nano, v)
		return err == nil
	}
	// int32, int64, byte, and other formats are not enforced for CRDs by the API server
	// either (or only in ways that do not affect Portico); accept them.
	return true
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

// sortFieldProblems orders problems by path so output is stable despite map iteration.
func sortFieldProblems(ps []fieldProblem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := renderPath(ps[i].path), renderPath(ps[j].path)
		if a != b {
			return a < b
		}
		return ps[i].msg < ps[j].msg
	})
}
