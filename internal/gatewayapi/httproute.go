package gatewayapi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
)

// routeRule is a rule translated once per route, then instantiated for every
// (listener, hostname, match) the route attaches to.
type routeRule struct {
	index    int
	name     string // <kind>/<namespace>/<name>/rule/<index>
	matches  []routeMatch
	template ir.HTTPRoute // filters and action; no name, hostname or matches
}

// routeObject is what attaching, naming and reference checks need of a
// route: HTTPRoute and GRPCRoute share every code path after their matches
// are translated; TCPRoute, TLSRoute and UDPRoute (layer4.go) share
// attachment and backendRefs.
type routeObject struct {
	kind      string
	meta      *metav1.ObjectMeta
	hostnames []gwapiv1.Hostname
}

func httpRouteObject(r *gwapiv1.HTTPRoute) routeObject {
	return routeObject{kind: kindHTTPRoute, meta: &r.ObjectMeta, hostnames: r.Spec.Hostnames}
}

// ruleName names a rule's destination and starts its IR routes' names:
// <kind>/<namespace>/<name>/rule/<i>. Concatenated, not formatted: names
// are made for every rule and match on the reload path.
func (ro routeObject) ruleName(i int) string {
	kind := "httproute/"
	if ro.kind == kindGRPCRoute {
		kind = "grpcroute/"
	}
	return kind + ro.meta.Namespace + "/" + ro.meta.Name + "/rule/" + strconv.Itoa(i)
}

type routeMatch struct {
	path    *ir.StringMatch
	headers []ir.StringMatch
	query   []ir.StringMatch
	// preflight marks the CORS preflight match made for the match before
	// it (see corsPreflights); its routes are named after that match.
	preflight bool
}

// processHTTPRoutes attaches every HTTPRoute to its parents and fills its
// status, one entry per parentRef that names a Gateway of ours.
func (t *translation) processHTTPRoutes() {
	routes := append([]*gwapiv1.HTTPRoute(nil), t.in.HTTPRoutes...)
	sort.SliceStable(routes, func(i, j int) bool { return olderFirst(&routes[i].ObjectMeta, &routes[j].ObjectMeta) })
	for _, in := range routes {
		// The output shares the input's metadata and spec: nothing
		// modifies an input object (they are reused across reloads), and
		// a deep copy of 1000 routes was a good part of a reload. An
		// unchanged route then also compares equal to last time's at a
		// glance (status.Store), its slices being the same.
		route := &gwapiv1.HTTPRoute{TypeMeta: in.TypeMeta, ObjectMeta: in.ObjectMeta, Spec: in.Spec}
		rules, resolved, partial := t.rulesOf(in, route)
		ro := httpRouteObject(route)
		route.Status.Parents = t.attachParents(ro, route.Spec.ParentRefs, attachHTTP(ro, rules), &resolved, partial)
		if route.Status.Parents != nil {
			t.result.HTTPRoutes = append(t.result.HTTPRoutes, route)
		}
	}
}

// attachParents attaches a route to each of its parentRefs and returns one
// parent status per parentRef that names a Gateway of ours (nil if none),
// each ending with conds (the nil ones left out). attach adds the route to
// one listener (see attachParent).
func (t *translation) attachParents(ro routeObject, refs []gwapiv1.ParentReference,
	attach func(lc *listenerContext, hosts []string) *refusal, conds ...*metav1.Condition) []gwapiv1.RouteParentStatus {
	var out []gwapiv1.RouteParentStatus
	for _, pref := range refs {
		ps, ok := t.attachParent(ro, pref, attach)
		if !ok {
			continue
		}
		for _, c := range conds {
			if c != nil {
				ps.Conditions = withCondition(ps.Conditions, *c)
			}
		}
		out = append(out, ps)
	}
	return out
}

// withCondition adds c to a parent's conditions. An Accepted=False from the
// rules (none of them usable) takes the place of the parent's Accepted=True;
// a parent that refused the route keeps its own reason.
func withCondition(conds []metav1.Condition, c metav1.Condition) []metav1.Condition {
	if c.Type != string(gwapiv1.RouteConditionAccepted) {
		return append(conds, c)
	}
	for i := range conds {
		if conds[i].Type == c.Type && conds[i].Status == metav1.ConditionTrue {
			conds[i] = c
		}
	}
	return conds
}

// attachHTTP adds an HTTPRoute's or GRPCRoute's rules to a listener.
func attachHTTP(ro routeObject, rules []*routeRule) func(lc *listenerContext, hosts []string) *refusal {
	return func(lc *listenerContext, hosts []string) *refusal {
		if lc.ready() {
			lc.ir.Routes = append(lc.ir.Routes, instantiateRoutes(rules, hosts)...)
			// A gRPC route makes the listener add Envoy's gRPC filters.
			lc.ir.IsHTTP2 = lc.ir.IsHTTP2 || ro.kind == kindGRPCRoute
		}
		return nil
	}
}

// refusal is why a listener does not take a route (Accepted=False).
type refusal struct {
	reason gwapiv1.RouteConditionReason
	msg    string
}

// attachParent resolves one parentRef of a route to the listeners it
// attaches to (sectionName, port, allowedRoutes, hostnames) and calls
// attach for each, which returns nil or why the listener refuses the
// route. It returns false when the parentRef is not a Gateway handled by
// this controller.
func (t *translation) attachParent(ro routeObject, pref gwapiv1.ParentReference,
	attach func(lc *listenerContext, hosts []string) *refusal) (gwapiv1.RouteParentStatus, bool) {
	ref := defaultParentRef(pref, ro.meta.Namespace)
	ps := gwapiv1.RouteParentStatus{
		ParentRef:      statusParentRef(pref),
		ControllerName: gwapiv1.GatewayController(t.opts.ControllerName),
	}
	gen := ro.meta.Generation
	reject := func(reason gwapiv1.RouteConditionReason, msg string) (gwapiv1.RouteParentStatus, bool) {
		ps.Conditions = []metav1.Condition{newCondition(string(gwapiv1.RouteConditionAccepted), "False", string(reason), msg, gen)}
		return ps, true
	}
	if string(*ref.Group) == gwapiv1.GroupName && string(*ref.Kind) == kindListenerSet && t.parentIsOurs(ref) {
		ps.Conditions = []metav1.Condition{newCondition(string(gwapiv1.RouteConditionAccepted), "False",
			ReasonUnsupportedKind, kindMessage(kindListenerSet, "routes cannot attach to one"), gen)}
		return ps, true
	}
	if string(*ref.Group) != gwapiv1.GroupName || string(*ref.Kind) != "Gateway" {
		return ps, false
	}
	gc := t.gatewayContext(string(*ref.Namespace), string(ref.Name))
	if gc == nil {
		if g := t.index.gateways[key(string(*ref.Namespace), string(ref.Name))]; g != nil {
			if t.classExists(string(g.Spec.GatewayClassName)) {
				return ps, false // another controller's Gateway
			}
			// No controller will ever take this Gateway (see classMissing).
			return reject(gwapiv1.RouteReasonNoMatchingParent, fmt.Sprintf("Gateway %s/%s is not accepted: its GatewayClass %q does not exist.",
				*ref.Namespace, ref.Name, g.Spec.GatewayClassName))
		}
		// Envoy Gateway stays silent here; in standalone mode Portico is the
		// only controller, so it says what is wrong.
		return reject(gwapiv1.RouteReasonNoMatchingParent, fmt.Sprintf("Gateway %s/%s does not exist.", *ref.Namespace, ref.Name))
	}

	var candidates []*listenerContext
	for _, lc := range gc.listeners {
		if ref.SectionName != nil && *ref.SectionName != lc.spec.Name {
			continue
		}
		if ref.Port != nil && *ref.Port != lc.spec.Port {
			continue
		}
		candidates = append(candidates, lc)
	}
	if len(candidates) == 0 {
		return reject(gwapiv1.RouteReasonNoMatchingParent, "No listeners match this parent ref.")
	}
	var allowed []*listenerContext
	for _, lc := range candidates {
		if t.listenerAllows(lc, ro.kind, ro.meta.Namespace) {
			allowed = append(allowed, lc)
		}
	}
	if len(allowed) == 0 {
		return reject(gwapiv1.RouteReasonNotAllowedByListeners, "No listeners included by this parent ref allowed this attachment.")
	}
	matched := false
	var refused *refusal
	for _, lc := range allowed {
		hosts := intersectHostnames(hostnameOf(lc.spec), ro.hostnames)
		if len(hosts) == 0 {
			continue
		}
		matched = true
		if r := attach(lc, hosts); r != nil {
			refused = r
			continue
		}
		lc.attachedRoutes++
	}
	if !matched {
		return reject(gwapiv1.RouteReasonNoMatchingListenerHostname, msgNoHostnameIntersection)
	}
	if refused != nil {
		return reject(refused.reason, refused.msg)
	}
	ps.Conditions = []metav1.Condition{newCondition(string(gwapiv1.RouteConditionAccepted), "True",
		string(gwapiv1.RouteReasonAccepted), msgRouteAccepted, gen)}
	return ps, true
}

func (t *translation) gatewayContext(namespace, name string) *gatewayContext {
	for _, gc := range t.gateways {
		if gc.gw.Namespace == namespace && gc.gw.Name == name {
			return gc
		}
	}
	return nil
}

// listenerAllows applies allowedRoutes: the route kind and its namespace.
func (t *translation) listenerAllows(lc *listenerContext, kind, routeNS string) bool {
	kindOK := false
	for _, k := range lc.allowedKinds {
		if string(k.Kind) == kind {
			kindOK = true
		}
	}
	if !kindOK {
		return false
	}
	from := gwapiv1.NamespacesFromSame
	var selector *metav1.LabelSelector
	if ar := lc.spec.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		if ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		selector = ar.Namespaces.Selector
	}
	switch from {
	case gwapiv1.NamespacesFromAll:
		return true
	case gwapiv1.NamespacesFromSame:
		return routeNS == lc.gateway.gw.Namespace
	case gwapiv1.NamespacesFromSelector:
		if selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return false
		}
		return sel.Matches(labels.Set(t.index.namespaceLabels(routeNS)))
	default:
		return false
	}
}

// defaultParentRef fills the defaults the CRD declares, so the rest of the
// code never checks for nil.
func defaultParentRef(ref gwapiv1.ParentReference, routeNS string) gwapiv1.ParentReference {
	if ref.Group == nil {
		ref.Group = ptr(gwapiv1.Group(gwapiv1.GroupName))
	}
	if ref.Kind == nil {
		ref.Kind = ptr(gwapiv1.Kind("Gateway"))
	}
	if ref.Namespace == nil || *ref.Namespace == "" {
		ref.Namespace = ptr(gwapiv1.Namespace(routeNS))
	}
	return ref
}

// statusParentRef is the parentRef as written, with group and kind
// defaulted the way the API server would show them.
func statusParentRef(ref gwapiv1.ParentReference) gwapiv1.ParentReference {
	if ref.Group == nil {
		ref.Group = ptr(gwapiv1.Group(gwapiv1.GroupName))
	}
	if ref.Kind == nil {
		ref.Kind = ptr(gwapiv1.Kind("Gateway"))
	}
	return ref
}

// instantiateRoutes makes the IR routes of one route on one listener.
func instantiateRoutes(rules []*routeRule, hosts []string) []*ir.HTTPRoute {
	var out []*ir.HTTPRoute
	for _, host := range hosts {
		for _, rule := range rules {
			j := -1
			for _, m := range rule.matches {
				r := rule.template // shallow copy: slices are shared read-only
				suffix := "/"
				if m.preflight {
					suffix = "/cors-preflight/"
				} else {
					j++
				}
				r.Name = rule.name + "/match/" + strconv.Itoa(j) + suffix + strings.ReplaceAll(host, ".", "_")
				r.Hostname = host
				r.PathMatch = m.path
				r.HeaderMatches = m.headers
				r.QueryParamMatches = m.query
				out = append(out, &r)
			}
		}
	}
	return out
}

func olderFirst(a, b *metav1.ObjectMeta) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

func ptr[T any](v T) *T { return &v }
