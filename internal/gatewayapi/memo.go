package gatewayapi

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/treeequal"
)

// Memo carries each HTTPRoute's translated rules from one translation to
// the next. An edit of one route among 1000 otherwise translates all
// 1000 again, and hands the xDS translator new IR that it must compare
// field by field to find it unchanged; reused rules also share their IR,
// which compares equal at a glance.
//
// A route's rules depend on the route object and on everything else in
// the input (Services, Backends, grants, policies, Gateways) and the
// options. The file provider hands over the very same object for an
// unchanged document, so the rules are reused only for the same route
// object, and only when every other input object is the same object as
// last time and the options are equal; any other change starts afresh.
// A Memo serves one Translate call at a time.
type Memo struct {
	in    *resource.Set
	opts  Options
	rules map[*gwapiv1.HTTPRoute]translatedRules
	next  map[*gwapiv1.HTTPRoute]translatedRules
}

type translatedRules struct {
	rules    []*routeRule
	resolved metav1.Condition
	partial  *metav1.Condition
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{} }

// begin starts a translation of in: it keeps last time's rules only if
// nothing but HTTPRoutes changed.
func (m *Memo) begin(in *resource.Set, opts Options) {
	opts.Memo = nil
	if m.in == nil || !sameExceptRoutes(m.in, in) || !treeequal.Equal(m.opts, opts) {
		m.rules = nil
	}
	m.in, m.opts = in, opts
	m.next = make(map[*gwapiv1.HTTPRoute]translatedRules, len(m.rules))
}

func (m *Memo) end() { m.rules, m.next = m.next, nil }

// rulesOf is translateRules through the memo (m may be nil).
func (t *translation) rulesOf(in, route *gwapiv1.HTTPRoute) ([]*routeRule, metav1.Condition, *metav1.Condition) {
	m := t.opts.Memo
	if m == nil {
		return t.translateHTTPRules(route)
	}
	if r, ok := m.rules[in]; ok {
		m.next[in] = r
		return r.rules, r.resolved, r.partial
	}
	rules, resolved, partial := t.translateHTTPRules(route)
	m.next[in] = translatedRules{rules, resolved, partial}
	return rules, resolved, partial
}

// sameExceptRoutes reports whether every input object but the HTTPRoutes
// is the same object in a and b (by pointer, in order). New kinds in Set
// are covered as they come.
func sameExceptRoutes(a, b *resource.Set) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		if va.Type().Field(i).Name == "HTTPRoutes" {
			continue
		}
		x, y := va.Field(i), vb.Field(i)
		if x.Kind() != reflect.Slice || x.Len() != y.Len() {
			return false
		}
		for j := range x.Len() {
			if x.Index(j).Kind() != reflect.Pointer || x.Index(j).Pointer() != y.Index(j).Pointer() {
				return false
			}
		}
	}
	return true
}
