// Package support is Portico's support ledger: for every kind it loads, what
// it does with every field of the kind's schema. A field is either consumed
// by a translator (Supported), not implemented yet (NotYet, with the
// condition it produces), or meaningless where Portico runs (NoEffect, e.g.
// Kubernetes-only settings in standalone mode).
//
// The table is in ledger.go. A test walks the CRD schemas and fails when a
// field is in neither state, so nothing can be silently ignored; another
// (internal/pipeline) sets each non-supported field on an object and checks
// that its condition names the field. docs/support-matrix.md is generated
// from the table (go run ./internal/support/gen).
//
// Translators ask Findings which of an object's set fields are not
// supported, and apply the entry's Effect.
package support

// State is what Portico does with a field.
type State int

// States of a field.
const (
	// Supported fields are consumed by a translator.
	Supported State = iota
	// NotYet fields are not implemented; setting one produces the
	// condition of the entry's Effect.
	NotYet
	// NoEffect fields mean nothing where Portico runs (Kubernetes-only
	// settings in standalone mode): the object stays Accepted, with a
	// message naming the field.
	NoEffect
)

func (s State) String() string {
	switch s {
	case Supported:
		return "supported"
	case NotYet:
		return "not yet"
	case NoEffect:
		return "no effect in standalone mode"
	}
	return "unknown"
}

// Effect is what setting a NotYet field does.
type Effect int

// Effects of NotYet fields.
const (
	// NoCondition is the effect of Supported and NoEffect entries.
	NoCondition Effect = iota
	// KindRejected: the kind is not translated at all. The object is
	// Accepted=False with reason UnsupportedKind (a route, per parentRef;
	// a policy, per ancestor) and serves nothing.
	KindRejected
	// PolicyRejected: the object is Accepted=False, reason UnsupportedField,
	// naming the field; what it configures otherwise still applies.
	PolicyRejected
	// FailClosed: a security control Portico cannot enforce. The object is
	// Accepted=False naming the field and the routes it targets answer 500.
	FailClosed
	// FailClosedUnlessFailOpen: as FailClosed, except that with failOpen
	// the targeted routes keep serving without it (Envoy Gateway's rule for
	// Wasm and ext_proc entries that cannot be built); the status is still
	// Accepted=False.
	FailClosedUnlessFailOpen
	// RuleFails: the HTTPRoute rule answers 500 and the route's parents get
	// PartiallyInvalid=True (UnsupportedValue) naming the field; other
	// rules keep serving. When no rule is left, Accepted=False instead.
	RuleFails
	// ListenerRejected: the listener is Accepted=False (UnsupportedValue)
	// naming the field and does not serve (fail closed).
	ListenerRejected
	// BackendRejected: the Backend is Accepted=False naming the field, and
	// the routes that use it answer 500 (ResolvedRefs=False).
	BackendRejected
	// GatewayNoted: the Gateway is Accepted=False (UnsupportedField) naming
	// the field; its listeners serve without it (no such field can open a
	// route: each only withholds something).
	GatewayNoted
	// RouteNoted: the route's parents get PartiallyInvalid=True
	// (UnsupportedValue) naming the field; the route serves without it.
	RouteNoted
)

// Describe is the user-facing sentence for an effect.
func (e Effect) Describe() string {
	switch e {
	case KindRejected:
		return "Accepted=False (UnsupportedKind): not served"
	case PolicyRejected:
		return "Accepted=False (UnsupportedField) naming the field; the rest applies"
	case FailClosed:
		return "Accepted=False (UnsupportedField); the targeted routes answer 500"
	case FailClosedUnlessFailOpen:
		return "Accepted=False (UnsupportedField); the targeted routes answer 500 unless failOpen"
	case RuleFails:
		return "PartiallyInvalid=True (UnsupportedValue), Accepted=False when no rule of the route is left; the rule answers 500"
	case ListenerRejected:
		return "listener Accepted=False (UnsupportedValue); the listener does not serve"
	case BackendRejected:
		return "Accepted=False; routes using the Backend answer 500"
	case GatewayNoted:
		return "Gateway Accepted=False (UnsupportedField) names it; the listeners serve without it"
	case RouteNoted:
		return "PartiallyInvalid=True (UnsupportedValue) names it; the route serves without it"
	}
	return ""
}

// Entry is one row of the ledger: a field of a kind (and everything under it,
// unless a longer entry says otherwise).
type Entry struct {
	// Kind is the object kind, e.g. HTTPRoute.
	Kind string
	// Path is the field, "spec.rules[].sessionPersistence": "[]" marks a
	// list's elements. "spec" stands for the whole kind.
	Path string
	// Value, when set, narrows the entry to that value of the field (for
	// example Backend spec.type DynamicResolver).
	Value string
	State State
	// Effect is what a NotYet field does.
	Effect Effect
	// Note is shown in the support matrix.
	Note string
	// Default is the JSON of a value the schema defaults the field to; a
	// field holding it counts as unset (EnvoyProxy spec.logging).
	Default string
}

// covers reports whether the entry covers a schema field path.
func (e Entry) covers(path string) bool {
	return path == e.Path || hasPathPrefix(path, e.Path)
}

func hasPathPrefix(path, prefix string) bool {
	if len(path) <= len(prefix) || path[:len(prefix)] != prefix {
		return false
	}
	switch path[len(prefix)] {
	case '.', '[':
		return true
	}
	return false
}

// EntriesOf returns the ledger rows of a kind, in table order.
func EntriesOf(kind string) []Entry {
	var out []Entry
	for _, e := range Ledger {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// For returns the entry that decides a schema field of a kind: the longest
// entry path covering it, ignoring value-narrowed entries. ok is false when
// no entry covers the field.
func For(kind, path string) (Entry, bool) {
	var best Entry
	found := false
	for _, e := range Ledger {
		if e.Kind != kind || e.Value != "" || !e.covers(path) {
			continue
		}
		if !found || len(e.Path) > len(best.Path) {
			best, found = e, true
		}
	}
	return best, found
}
