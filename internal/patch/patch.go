// Package patch applies EnvoyPatchPolicy JSON Patches (RFC 6902, with
// RFC 9535 JSONPath selection) to the xDS resources of one proxy fleet.
//
// Apply is pure: no I/O, no clock, same input -> same output. Each patch of
// each policy is applied on its own to the resource rendered as protojson
// with proto field names, parsed back and validated; a patch that fails any
// step is left out and becomes part of its policy's Programmed=False
// status, and every other patch and policy still applies. The snapshot is
// therefore never blocked by a bad policy.
package patch

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Condition type, reasons and messages of the Programmed condition, as
// Envoy Gateway writes them (users and dashboards match on them).
const (
	ConditionProgrammed    = "Programmed"
	ReasonProgrammed       = "Programmed"
	ReasonInvalid          = "Invalid"
	ReasonResourceNotFound = "ResourceNotFound"
	MessageProgrammed      = "Patches have been successfully applied."
)

// ReservedSecret is the Secret holding the system trust store; letting a
// patch create, rename to or modify it would let one policy redirect the
// upstream TLS validation of every backend that trusts the system CAs.
const ReservedSecret = "system_ca_certificates"

// Status is the outcome of one policy.
type Status struct {
	Namespace  string
	Name       string
	Generation int64
	// Programmed is the Programmed condition (no transition time: the
	// status writer owns the clock).
	Programmed metav1.Condition
	// Conflicts name the other policies that patched the same path of the
	// same resource; they are also in Programmed's message.
	Conflicts []string
	// Changes are the resources this policy changed, before and after, in
	// the order of the patches; only with Options.RecordChanges.
	Changes []Change
	// Touched are the resources this policy changed or inserted (by their
	// names after the patch), so that a proxy's rejection of one of them
	// can be laid at this policy's door and no other's.
	Touched []Resource
}

// Resource names one xDS resource.
type Resource struct {
	TypeURL string
	Name    string
}

// Change is one resource as one policy changed it. Before is nil for a
// resource the policy inserted.
type Change struct {
	TypeURL string
	Name    string
	Before  proto.Message
	After   proto.Message
}

// Options tune Apply.
type Options struct {
	// Names lets a not-found message give the name a resource has under the
	// xDS name scheme in use; see NamesFor. Optional.
	Names *Names
	// RecordChanges fills Status.Changes (for `x translate --diff`).
	RecordChanges bool
}

var (
	renderOpts = protojson.MarshalOptions{UseProtoNames: true}
	applyOpts  = func() *jsonpatch.ApplyOptions {
		o := jsonpatch.NewApplyOptions()
		// Envoy Gateway creates missing parents on add; patches written
		// for it (e.g. local_reply_config on an HCM) rely on that.
		o.EnsurePathExistsOnAdd = true
		return o
	}()
)

// Apply applies the policies to res, in order of priority (ascending; ties
// keep the input order, which the Gateway API translator sorts by creation
// time, namespace and name). It returns the patched resources (res itself
// is not modified) and one status per policy, in the input order.
func Apply(res *xdstypes.Resources, policies []*ir.EnvoyPatchPolicy, opts Options) (*xdstypes.Resources, []Status) {
	l := fromResources(res)
	order := make([]int, len(policies))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return priority(policies[order[a]]) < priority(policies[order[b]])
	})
	statuses := make([]Status, len(policies))
	tr := touches{}
	for _, i := range order {
		p := policies[i]
		if p == nil {
			continue
		}
		statuses[i] = applyPolicy(l, i, p, opts, tr)
	}
	tr.conflicts(policies, statuses)
	for i := range statuses {
		finish(&statuses[i])
	}
	return l.resources(), statuses
}

func priority(p *ir.EnvoyPatchPolicy) int32 {
	if p == nil {
		return 0
	}
	return p.Priority
}

// policyResult gathers one policy's outcome while its patches run.
type policyResult struct {
	errs     []string
	notFound []string
	hints    []string
}

func applyPolicy(l *lists, idx int, p *ir.EnvoyPatchPolicy, opts Options, tr touches) Status {
	st := Status{Namespace: p.Namespace, Name: p.Name, Generation: p.Generation}
	var pr policyResult
	for _, pc := range p.JSONPatches {
		if pc == nil {
			continue
		}
		ch, err := applyOne(l, idx, pc, tr)
		switch {
		case err == errNotFound:
			ref := pc.Type + "/" + pc.Name
			pr.notFound = append(pr.notFound, ref)
			if h := opts.Names.hint(pc.Type, pc.Name); h != "" {
				pr.hints = append(pr.hints, h)
			}
		case err != nil:
			pr.errs = append(pr.errs, err.Error())
		case ch != nil:
			typeURL := ch.TypeURL
			if k, ok := kindOf(typeURL); ok {
				typeURL = k.String()
			}
			st.touch(Resource{TypeURL: typeURL, Name: nameOf(ch.After)})
			if opts.RecordChanges {
				st.Changes = append(st.Changes, *ch)
			}
		}
	}
	st.Programmed = condition(p.Generation, pr)
	return st
}

func (st *Status) touch(r Resource) {
	for _, t := range st.Touched {
		if t == r {
			return
		}
	}
	st.Touched = append(st.Touched, r)
}

func condition(gen int64, pr policyResult) metav1.Condition {
	c := metav1.Condition{Type: ConditionProgrammed, ObservedGeneration: gen}
	notFound := ""
	if len(pr.notFound) > 0 {
		notFound = "Unable to find xds resources: " + strings.Join(pr.notFound, ",")
		if len(pr.hints) > 0 {
			notFound += ". " + strings.Join(pr.hints, " ")
		}
	}
	switch {
	case len(pr.errs) > 0:
		// Invalid wins: fixing the patch is the user's first job. The
		// missing resources are still listed so nothing is hidden.
		msgs := pr.errs
		if notFound != "" {
			msgs = append(msgs, notFound)
		}
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, ReasonInvalid, strings.Join(msgs, "\n")
	case notFound != "":
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, ReasonResourceNotFound, notFound
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, ReasonProgrammed, MessageProgrammed
	}
	return c
}

// finish adds the conflict warnings to the message, after every policy ran.
func finish(st *Status) {
	if len(st.Conflicts) == 0 {
		return
	}
	st.Programmed.Message += " Warning: " + strings.Join(st.Conflicts, "; ") + "."
}

// errNotFound marks a patch whose resource does not exist.
var errNotFound = fmt.Errorf("resource not found")

// applyOne applies one patch. It returns the change it made, errNotFound,
// or an error for the status.
func applyOne(l *lists, policy int, pc *ir.JSONPatchConfig, tr touches) (*Change, error) {
	k, ok := kindOf(pc.Type)
	if !ok {
		return nil, fmt.Errorf("Unsupported xds resource type %q: supported types are %s", pc.Type, strings.Join(kindURLs[:], ", "))
	}
	op := pc.Operation
	if err := checkOperation(op); err != nil {
		return nil, err
	}
	if op.Op == "add" && op.JSONPath == nil && op.Path != nil && *op.Path == "" {
		return insert(l, k, op.Value)
	}
	if k == kSecret && pc.Name == ReservedSecret {
		return nil, fmt.Errorf("Secret name %q is reserved for the system trust store and cannot be modified by patches.", ReservedSecret)
	}
	i := l.find(k, pc.Name)
	if i < 0 {
		return nil, errNotFound
	}
	before := l[k][i]
	doc, err := renderOpts.Marshal(before)
	if err != nil {
		return nil, fmt.Errorf("Unable to marshal xds resource %s/%s: %v", pc.Type, pc.Name, err)
	}
	path := ""
	if op.Path != nil {
		path = *op.Path
	}
	pointers := []string{path}
	if op.JSONPath != nil {
		if pointers, err = resolveJSONPath(doc, *op.JSONPath, path); err != nil {
			return nil, err
		}
		if op.Op == "remove" {
			// Locations come in document order; removing the last first
			// keeps the earlier array indices valid.
			for a, b := 0, len(pointers)-1; a < b; a, b = a+1, b-1 {
				pointers[a], pointers[b] = pointers[b], pointers[a]
			}
		}
	}
	ops := make([]map[string]any, 0, len(pointers))
	for _, ptr := range pointers {
		o := map[string]any{"op": op.Op, "path": ptr}
		if op.From != nil {
			o["from"] = *op.From
		}
		if op.Value != nil {
			o["value"] = op.Value
		}
		ops = append(ops, o)
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("Unable to marshal patch: %v", err)
	}
	jpatch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("Unable to decode patch %s: %v", raw, err)
	}
	out, err := jpatch.ApplyWithOptions(doc, applyOpts)
	if err != nil {
		return nil, fmt.Errorf("Unable to apply patch %s on xds resource %s/%s: %v", raw, pc.Type, pc.Name, err)
	}
	after := k.new()
	// Deliberately unlike Envoy Gateway, the message does not embed the
	// whole patched resource: it can be megabytes, and for a Secret it
	// would copy private keys into a world-readable status.
	if err := protojson.Unmarshal(out, after); err != nil {
		return nil, fmt.Errorf("Unable to unmarshal xds resource %s/%s after patching: %s", pc.Type, pc.Name, protoErr(err))
	}
	if err := validate(after); err != nil {
		if validate(before) != nil {
			// Not the patch's fault: say so, or users hunt for a bug in
			// a patch that is fine.
			return nil, fmt.Errorf("Validation failed for xds resource %s/%s, which was already invalid before patching: %v", pc.Type, pc.Name, err)
		}
		return nil, fmt.Errorf("Validation failed for xds resource %s/%s after patching: %v", pc.Type, pc.Name, err)
	}
	if n := nameOf(after); n != pc.Name {
		if err := checkNewName(l, k, n, "rename xds resource "+pc.Type+"/"+pc.Name+" to"); err != nil {
			return nil, err
		}
	}
	if op.Op == "test" || proto.Equal(before, after) {
		// Nothing changed: no change to show and no field to conflict on.
		return nil, nil
	}
	l[k][i] = after
	for _, ptr := range pointers {
		tr.add(k, nameOf(after), policy, ptr)
	}
	if op.From != nil {
		tr.add(k, nameOf(after), policy, *op.From)
	}
	return &Change{TypeURL: pc.Type, Name: pc.Name, Before: before, After: after}, nil
}

// insert adds a whole new resource (op add, path "").
func insert(l *lists, k kind, value any) (*Change, error) {
	raw, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("Unable to marshal value: %v", err)
	}
	m := k.new()
	if err := protojson.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("Unable to unmarshal xds resource %s: %s", k, protoErr(err))
	}
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("Validation failed for new xds resource %s: %v", k, err)
	}
	if err := checkNewName(l, k, nameOf(m), "add xds resource"); err != nil {
		return nil, err
	}
	l[k] = append(l[k], m)
	return &Change{TypeURL: k.String(), Name: nameOf(m), After: m}, nil
}

// protoErr makes protojson errors stable: protojson randomly puts a
// non-breaking space after "proto:" (so nobody matches on its messages),
// and its "(line 1:N)" points into JSON the user never sees. A status must
// be the same for the same input, or every translation rewrites it.
func protoErr(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	return lineCol.ReplaceAllString(msg, "")
}

var lineCol = regexp.MustCompile(`\(line \d+:\d+\): `)

// checkNewName guards a name a patch introduces (by insertion or rename):
// a duplicate would make the snapshot ambiguous, so it is refused rather
// than letting the cache pick one.
func checkNewName(l *lists, k kind, name, action string) error {
	if k == kSecret && name == ReservedSecret {
		return fmt.Errorf("Secret name %q is reserved for the system trust store and cannot be used by other resources.", ReservedSecret)
	}
	if l.find(k, name) >= 0 {
		return fmt.Errorf("Unable to %s %s/%s: a resource of that name already exists", action, k, name)
	}
	return nil
}

// checkOperation checks which of path, jsonPath, from and value an op
// needs, before anything is rendered.
func checkOperation(op ir.JSONPatchOperation) error {
	if op.Path == nil && op.JSONPath == nil {
		return fmt.Errorf("A patch operation must specify a path or jsonPath.")
	}
	switch op.Op {
	case "add", "replace", "test":
		if op.Value == nil {
			return fmt.Errorf("The %s operation requires a value.", op.Op)
		}
		if op.From != nil {
			return fmt.Errorf("From can't be specified with the %s operation; it is for move and copy.", op.Op)
		}
	case "remove":
		if op.Value != nil || op.From != nil {
			return fmt.Errorf("Value and from can't be specified with the remove operation.")
		}
	case "move", "copy":
		if op.From == nil {
			return fmt.Errorf("The %s operation requires from.", op.Op)
		}
		if op.Value != nil {
			return fmt.Errorf("Value can't be specified with the %s operation.", op.Op)
		}
	default:
		return fmt.Errorf("Unsupported operation %q: use add, remove, replace, move, copy or test.", op.Op)
	}
	return nil
}
