package gatewayapi

import (
	"fmt"
	"sort"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
)

// A GRPCRoute is an HTTPRoute whose matches name gRPC services and methods:
// once its matches are translated to path and header matches (as Envoy
// Gateway does), its filters and backendRefs are HTTPRoute's types and take
// HTTPRoute's code paths. Its IR routes are marked IsHTTP2, which gives
// them HTTP/2 clusters and no websocket upgrade, and gives their listener
// the grpc_web and grpc_stats filters.

const kindGRPCRoute = "GRPCRoute"

// Envoy Gateway's patterns for a service or method left out of a
// RegularExpression method match.
const (
	grpcValidServiceName = `(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*`
	grpcValidMethodName  = `[A-Za-z_][A-Za-z_0-9]*`
)

// processGRPCRoutes attaches every GRPCRoute to its parents and fills its
// status, exactly as processHTTPRoutes does for HTTPRoutes.
func (t *translation) processGRPCRoutes() {
	routes := append([]*gwapiv1.GRPCRoute(nil), t.in.GRPCRoutes...)
	sort.SliceStable(routes, func(i, j int) bool { return olderFirst(&routes[i].ObjectMeta, &routes[j].ObjectMeta) })
	for _, in := range routes {
		// Shares the input's metadata and spec, which nothing modifies (see
		// processHTTPRoutes).
		route := &gwapiv1.GRPCRoute{TypeMeta: in.TypeMeta, ObjectMeta: in.ObjectMeta, Spec: in.Spec}
		ro := routeObject{kind: kindGRPCRoute, meta: &route.ObjectMeta, hostnames: route.Spec.Hostnames}
		specs := make([]ruleSpec, len(route.Spec.Rules))
		for i := range route.Spec.Rules {
			specs[i] = grpcRuleSpec(&route.Spec.Rules[i])
		}
		rules, resolved, partial := t.translateRules(ro, specs, unsupportedRouteFields(kindGRPCRoute, route))
		route.Status.Parents = t.attachParents(ro, route.Spec.ParentRefs, attachHTTP(ro, rules), &resolved, partial)
		if route.Status.Parents != nil {
			t.result.GRPCRoutes = append(t.result.GRPCRoutes, route)
		}
	}
}

// grpcRuleSpec is a GRPCRoute rule in HTTPRoute's terms. GRPCRoute's filter
// types are a subset of HTTPRoute's with the same names and payloads; a
// type outside that subset reaches applyFilter as is and gets its message.
func grpcRuleSpec(r *gwapiv1.GRPCRouteRule) ruleSpec {
	hr := &gwapiv1.HTTPRouteRule{Name: r.Name, SessionPersistence: r.SessionPersistence}
	for _, f := range r.Filters {
		hr.Filters = append(hr.Filters, httpFilterOf(f))
	}
	for _, br := range r.BackendRefs {
		hbr := gwapiv1.HTTPBackendRef{BackendRef: br.BackendRef}
		for _, f := range br.Filters {
			hbr.Filters = append(hbr.Filters, httpFilterOf(f))
		}
		hr.BackendRefs = append(hr.BackendRefs, hbr)
	}
	matches := r.Matches
	if len(matches) == 0 {
		matches = []gwapiv1.GRPCRouteMatch{{}}
	}
	spec := ruleSpec{rule: hr}
	for _, m := range matches {
		spec.matches = append(spec.matches, translateGRPCMatch(m))
	}
	return spec
}

func httpFilterOf(f gwapiv1.GRPCRouteFilter) gwapiv1.HTTPRouteFilter {
	return gwapiv1.HTTPRouteFilter{
		Type:                   gwapiv1.HTTPRouteFilterType(f.Type),
		RequestHeaderModifier:  f.RequestHeaderModifier,
		ResponseHeaderModifier: f.ResponseHeaderModifier,
		RequestMirror:          f.RequestMirror,
		ExtensionRef:           f.ExtensionRef,
	}
}

// translateGRPCMatch maps a method match to the request path
// (/<service>/<method>) the way Envoy Gateway does: a method without a
// service is a suffix match on the :path header, since a route's path
// match has no suffix form. No method matches every path.
func translateGRPCMatch(m gwapiv1.GRPCRouteMatch) routeMatch {
	var rm routeMatch
	if mm := m.Method; mm != nil {
		regex := mm.Type != nil && *mm.Type == gwapiv1.GRPCMethodMatchRegularExpression
		svc, method := mm.Service, mm.Method
		switch {
		case regex && (svc != nil || method != nil):
			if svc == nil {
				svc = ptr(grpcValidServiceName)
			}
			if method == nil {
				method = ptr(grpcValidMethodName)
			}
			rm.path = &ir.StringMatch{SafeRegex: ptr(fmt.Sprintf("/%s/%s", *svc, *method))}
		case svc != nil && method != nil:
			rm.path = &ir.StringMatch{Exact: ptr(fmt.Sprintf("/%s/%s", *svc, *method))}
		case method != nil:
			rm.headers = append(rm.headers, ir.StringMatch{Name: ":path", Suffix: ptr("/" + *method)})
		case svc != nil:
			rm.path = &ir.StringMatch{Prefix: ptr("/" + *svc)}
		}
	}
	for _, h := range m.Headers {
		regex := h.Type != nil && *h.Type == gwapiv1.GRPCHeaderMatchRegularExpression
		rm.headers = append(rm.headers, stringMatch(string(h.Name), regex, h.Value))
	}
	return rm
}
