package gatewayapi

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/status/conditions"
	"github.com/portico-gw/portico/internal/support"
)

// TCP, TLS and UDP listeners and the TCPRoutes, TLSRoutes and UDPRoutes on
// them, as Envoy Gateway translates them: a route is one filter chain (TLS:
// selected by SNI) or the UDP listener's one route, and the backends of all
// its rules are pooled into one destination named <kind>/<ns>/<name>/rule/-1.

const (
	kindTCPRoute = "TCPRoute"
	kindTLSRoute = "TLSRoute"
	kindUDPRoute = "UDPRoute"

	msgOneRule = "One and only one rule is supported"
)

// listenerRouteKinds are the route kinds a listener protocol carries.
func listenerRouteKinds(p gwapiv1.ProtocolType) []gwapiv1.RouteGroupKind {
	kind := map[gwapiv1.ProtocolType]string{
		gwapiv1.TCPProtocolType: kindTCPRoute, gwapiv1.TLSProtocolType: kindTLSRoute, gwapiv1.UDPProtocolType: kindUDPRoute,
	}[p]
	if kind == "" {
		return httpListenerRouteKinds()
	}
	return []gwapiv1.RouteGroupKind{{Group: ptr(gwapiv1.Group(gwapiv1.GroupName)), Kind: gwapiv1.Kind(kind)}}
}

// kindNames lists kinds for a message: "HTTPRoute, GRPCRoute".
func kindNames(kinds []gwapiv1.RouteGroupKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k.Kind)
	}
	return strings.Join(names, ", ")
}

// processLayer4Listener accepts a TCP, TLS or UDP listener and, when it can
// carry traffic, gives it its IR listener.
func (t *translation) processLayer4Listener(lc *listenerContext) {
	l, gw := lc.spec, lc.gateway.gw
	lc.allowedKinds, lc.status.SupportedKinds = t.allowedRouteKinds(lc)
	lc.status.Conditions = conditions.Set(lc.status.Conditions, newCondition(
		string(gwapiv1.ListenerConditionAccepted), "True", string(gwapiv1.ListenerReasonAccepted), msgListenerAccepted, gw.Generation))
	mode, tlsConfig, ok := t.layer4ListenerTLS(lc)
	if !ok || conditions.Find(lc.status.Conditions, string(gwapiv1.ListenerConditionResolvedRefs)) != nil {
		return
	}
	meta := &ir.ResourceMetadata{Kind: kindGateway, Name: gw.Name, Namespace: gw.Namespace, SectionName: string(l.Name)}
	if l.Protocol == gwapiv1.UDPProtocolType {
		lc.udp = &ir.UDPListener{Name: irListenerName(gw, l), Address: "0.0.0.0", Port: containerPort(l.Port),
			ExternalPort: uint32(l.Port), Metadata: meta}
		return
	}
	lc.tlsMode, lc.terminate = mode, tlsConfig
	lc.tcp = &ir.TCPListener{Name: irListenerName(gw, l), Address: "0.0.0.0", Port: containerPort(l.Port),
		ExternalPort: uint32(l.Port), Metadata: meta}
}

// layer4ListenerTLS checks a TLS listener's mode: Passthrough takes no
// certificate, Terminate (the default) needs one. It returns the mode ("" for
// TCP and UDP) and, for Terminate, the certificates; false when the listener
// cannot serve (a condition says why).
func (t *translation) layer4ListenerTLS(lc *listenerContext) (string, *ir.TLSConfig, bool) {
	l := lc.spec
	if l.Protocol != gwapiv1.TLSProtocolType {
		if l.TLS != nil {
			rejectListener(lc, fmt.Sprintf("Listener must not have TLS set when protocol is %s.", l.Protocol))
			return "", nil, false
		}
		return "", nil, true
	}
	if l.TLS == nil {
		rejectListener(lc, "Listener must have TLS set when protocol is TLS.")
		return "", nil, false
	}
	mode := gwapiv1.TLSModeTerminate
	if l.TLS.Mode != nil {
		mode = *l.TLS.Mode
	}
	if mode == gwapiv1.TLSModePassthrough {
		if len(l.TLS.CertificateRefs) > 0 {
			rejectListener(lc, "Listener must not have TLS certificate refs set for TLS mode Passthrough.")
			return "", nil, false
		}
		return string(mode), nil, true
	}
	cfg, ok := t.listenerTLS(lc)
	if !ok {
		return "", nil, false
	}
	cfg.AlpnProtocols = nil // the bytes after the handshake are not HTTP
	return string(mode), cfg, true
}

// layer4Route is what attaching a TCPRoute, TLSRoute or UDPRoute needs.
type layer4Route struct {
	routeObject
	obj     any // the route, for the support ledger
	parents []gwapiv1.ParentReference
	rules   [][]gwapiv1.BackendRef
}

func tcpLayer4(r *gwapiv1.TCPRoute) layer4Route {
	var rules [][]gwapiv1.BackendRef
	for _, rule := range r.Spec.Rules {
		rules = append(rules, rule.BackendRefs)
	}
	return layer4Route{routeObject: routeObject{kind: kindTCPRoute, meta: &r.ObjectMeta}, obj: r, parents: r.Spec.ParentRefs, rules: rules}
}

func tlsLayer4(r *gwapiv1.TLSRoute) layer4Route {
	var rules [][]gwapiv1.BackendRef
	for _, rule := range r.Spec.Rules {
		rules = append(rules, rule.BackendRefs)
	}
	return layer4Route{routeObject: routeObject{kind: kindTLSRoute, meta: &r.ObjectMeta, hostnames: r.Spec.Hostnames}, obj: r, parents: r.Spec.ParentRefs, rules: rules}
}

func udpLayer4(r *gwapiv1.UDPRoute) layer4Route {
	var rules [][]gwapiv1.BackendRef
	for _, rule := range r.Spec.Rules {
		rules = append(rules, rule.BackendRefs)
	}
	return layer4Route{routeObject: routeObject{kind: kindUDPRoute, meta: &r.ObjectMeta}, obj: r, parents: r.Spec.ParentRefs, rules: rules}
}

// processLayer4Routes attaches the TCPRoutes, TLSRoutes and UDPRoutes,
// each kind oldest first (the first route on a TCP or UDP listener keeps it).
func (t *translation) processLayer4Routes() {
	tcp := append([]*gwapiv1.TCPRoute(nil), t.in.TCPRoutes...)
	sort.SliceStable(tcp, func(i, j int) bool { return olderFirst(&tcp[i].ObjectMeta, &tcp[j].ObjectMeta) })
	for _, in := range tcp {
		out := &gwapiv1.TCPRoute{TypeMeta: in.TypeMeta, ObjectMeta: in.ObjectMeta, Spec: in.Spec}
		if out.Status.Parents = t.attachLayer4(tcpLayer4(in)); out.Status.Parents != nil {
			t.result.TCPRoutes = append(t.result.TCPRoutes, out)
		}
	}
	tls := append([]*gwapiv1.TLSRoute(nil), t.in.TLSRoutes...)
	sort.SliceStable(tls, func(i, j int) bool { return olderFirst(&tls[i].ObjectMeta, &tls[j].ObjectMeta) })
	for _, in := range tls {
		out := &gwapiv1.TLSRoute{TypeMeta: in.TypeMeta, ObjectMeta: in.ObjectMeta, Spec: in.Spec}
		if out.Status.Parents = t.attachLayer4(tlsLayer4(in)); out.Status.Parents != nil {
			t.result.TLSRoutes = append(t.result.TLSRoutes, out)
		}
	}
	udp := append([]*gwapiv1.UDPRoute(nil), t.in.UDPRoutes...)
	sort.SliceStable(udp, func(i, j int) bool { return olderFirst(&udp[i].ObjectMeta, &udp[j].ObjectMeta) })
	for _, in := range udp {
		out := &gwapiv1.UDPRoute{TypeMeta: in.TypeMeta, ObjectMeta: in.ObjectMeta, Spec: in.Spec}
		if out.Status.Parents = t.attachLayer4(udpLayer4(in)); out.Status.Parents != nil {
			t.result.UDPRoutes = append(t.result.UDPRoutes, out)
		}
	}
}

// attachLayer4 attaches a route to its parents and returns its parent
// statuses (nil when no parentRef names a Gateway of ours).
func (t *translation) attachLayer4(r layer4Route) []gwapiv1.RouteParentStatus {
	dest, resolved := t.layer4Destination(r)
	routeName := fmt.Sprintf("%s/%s/%s", strings.ToLower(r.kind), r.meta.Namespace, r.meta.Name)
	meta := &ir.ResourceMetadata{Kind: r.kind, Name: r.meta.Name, Namespace: r.meta.Namespace}
	oneRule := r.kind != kindTLSRoute && len(r.rules) != 1
	return t.attachParents(r.routeObject, r.parents, func(lc *listenerContext, hosts []string) *refusal {
		if oneRule {
			return &refusal{reason: "InvalidRule", msg: msgOneRule}
		}
		return attachLayer4Listener(lc, routeName, hosts, dest, meta)
	}, &resolved, notedFields(r))
}

// attachLayer4Listener adds the route to one listener, or says why the
// listener refuses it: a TCP or UDP listener takes one route.
func attachLayer4Listener(lc *listenerContext, name string, hosts []string, dest *ir.RouteDestination, meta *ir.ResourceMetadata) *refusal {
	if !lc.ready() {
		// A listener that is not served carries no route: saying the
		// route is accepted would promise traffic that never flows.
		return &refusal{reason: gwapiv1.RouteReasonNotAllowedByListeners,
			msg: fmt.Sprintf("Listener %s is not served (see its conditions).", lc.spec.Name)}
	}
	switch {
	case lc.udp != nil:
		if lc.udp.Route != nil {
			return &refusal{reason: gwapiv1.RouteReasonUnsupportedValue, msg: "Multiple routes on the same UDP listener"}
		}
		lc.udp.Route = &ir.UDPRoute{Name: name, Destination: dest, Metadata: meta}
	case lc.tcp != nil:
		if lc.tlsMode == "" && len(lc.tcp.Routes) > 0 {
			return &refusal{reason: gwapiv1.RouteReasonUnsupportedValue, msg: "Multiple routes on the same TCP listener"}
		}
		route := &ir.TCPRoute{Name: name, Destination: dest, Metadata: meta}
		if lc.tlsMode != "" {
			route.TLS = &ir.TLS{Inspector: &ir.TLSInspectorConfig{}, Terminate: lc.terminate}
			if !(len(hosts) == 1 && hosts[0] == "*") {
				route.TLS.Inspector.SNIs = hosts
			}
		}
		lc.tcp.Routes = append(lc.tcp.Routes, route)
	}
	return nil
}

// layer4Destination pools the backends of every rule into the route's one
// destination, and returns the ResolvedRefs condition.
func (t *translation) layer4Destination(r layer4Route) (*ir.RouteDestination, metav1.Condition) {
	name := fmt.Sprintf("%s/%s/%s/rule/-1", strings.ToLower(r.kind), r.meta.Namespace, r.meta.Name)
	dest := &ir.RouteDestination{Name: name, Metadata: &ir.ResourceMetadata{Kind: r.kind, Name: r.meta.Name, Namespace: r.meta.Namespace}}
	probs := &ruleProblems{}
	k := 0
	for _, refs := range r.rules {
		for _, br := range refs {
			if s := t.resolveBackendRef(r.routeObject, br, fmt.Sprintf("%s/backend/%d", name, k), probs); s != nil {
				dest.Settings = append(dest.Settings, s)
			}
			k++
		}
	}
	return dest, probs.resolvedRefs(r.meta.Generation)
}

// appendLayer4Listeners adds the Gateway's TCP, TLS and UDP listeners to its
// fleet's IR, in spec order. A TLS listener without a route has no filter
// chain to serve and is left out, as Envoy Gateway does.
func appendLayer4Listeners(x *ir.Xds, gc *gatewayContext) {
	for _, lc := range gc.listeners {
		if lc.tcp != nil && len(lc.tcp.Routes) > 0 {
			x.TCP = append(x.TCP, lc.tcp)
		}
		if lc.udp != nil && lc.udp.Route != nil {
			x.UDP = append(x.UDP, lc.udp)
		}
	}
}

// notedFields is PartiallyInvalid naming the fields of the route the
// ledger marks not supported yet (useDefaultGateways), or nil.
func notedFields(r layer4Route) *metav1.Condition {
	findings := support.Select(support.Findings(r.kind, r.obj), support.NotYet)
	if len(findings) == 0 {
		return nil
	}
	c := newCondition(string(gwapiv1.RouteConditionPartiallyInvalid), "True", string(gwapiv1.RouteReasonUnsupportedValue),
		fmt.Sprintf("%s %s not supported by Portico yet: the route attaches through its parentRefs only.",
			support.Paths(findings), isAre(len(findings))), r.meta.Generation)
	return &c
}

// rejectLayer4BesideHTTP refuses a TCP or TLS listener on the port of an
// HTTP listener, and a TCP one on the port of an HTTPS listener. (A TLS
// listener beside an HTTPS one is served: one Envoy listener with both
// kinds of chains, chosen by SNI.) Portico cannot serve these mixes yet,
// so the listener says so rather than being reported as served.
func rejectLayer4BesideHTTP(listeners []*listenerContext) {
	http := map[int32]gwapiv1.ProtocolType{}
	for _, lc := range listeners {
		if p := lc.spec.Protocol; p == gwapiv1.HTTPSProtocolType || p == gwapiv1.HTTPProtocolType {
			http[lc.spec.Port] = p
		}
	}
	for _, lc := range listeners {
		other, shared := http[lc.spec.Port]
		if lc.tcp == nil || !shared || other == gwapiv1.HTTPSProtocolType && lc.spec.Protocol == gwapiv1.TLSProtocolType {
			continue
		}
		rejectListener(lc, fmt.Sprintf("A %s listener on the port of an %s listener (%d) is not supported by Portico yet.",
			lc.spec.Protocol, other, lc.spec.Port))
	}
}

// closeLayer4ForAuthorization fails closed the TCP, TLS and UDP listeners
// a SecurityPolicy with authorization applies to (by the Gateway, or the
// listener's sectionName): Envoy Gateway enforces it there with the RBAC
// network filter, which Portico does not build yet, so their routes are
// left out of the data plane and the port refuses connections rather than
// let them in.
func (t *translation) closeLayer4ForAuthorization(claims map[policyTarget]*attachment, byAtt map[*attachment]*spState, states []*spState) {
	for _, gc := range t.gateways {
		gw := gc.gw
		for _, lc := range gc.listeners {
			if lc.tcp == nil && lc.udp == nil {
				continue
			}
			att, section := claims[policyTarget{kindGateway, gw.Namespace, gw.Name, string(lc.spec.Name)}], string(lc.spec.Name)
			if att == nil {
				att, section = claims[policyTarget{kindGateway, gw.Namespace, gw.Name, ""}], ""
			}
			if st := byAtt[att]; st != nil && st.policy.Spec.Authorization != nil {
				att.ancestorFor(gc, lc, true, section, nil)
				st.layer4 = append(st.layer4, key(gw.Namespace, gw.Name)+"/"+string(lc.spec.Name))
				// No route: the listener is not emitted, its port
				// refuses connections.
				if lc.tcp != nil {
					lc.tcp.Routes = nil
				}
				if lc.udp != nil {
					lc.udp.Route = nil
				}
				continue
			}
			closeTargetedLayer4Routes(gc, lc, states)
		}
	}
}

// closeTargetedLayer4Routes leaves out the routes of a layer-4 listener
// that a SecurityPolicy with authorization targets by targetRef(s).
func closeTargetedLayer4Routes(gc *gatewayContext, lc *listenerContext, states []*spState) {
	targets := func(st *spState, m *ir.ResourceMetadata) bool {
		for _, r := range allTargetRefs(st.policy.Spec.PolicyTargetReferences) {
			if string(r.Group) == gwapiv1.GroupName && string(r.Kind) == m.Kind && string(r.Name) == m.Name && st.policy.Namespace == m.Namespace {
				return true
			}
		}
		return false
	}
	closed := func(m *ir.ResourceMetadata) bool {
		for _, st := range states {
			if st.policy.Spec.Authorization != nil && m != nil && targets(st, m) {
				st.att.ancestorFor(gc, lc, true, string(lc.spec.Name), nil)
				st.layer4 = append(st.layer4, m.Kind+" "+key(m.Namespace, m.Name))
				return true
			}
		}
		return false
	}
	if lc.udp != nil && lc.udp.Route != nil && closed(lc.udp.Route.Metadata) {
		lc.udp.Route = nil
	}
	if lc.tcp != nil {
		kept := lc.tcp.Routes[:0:0]
		for _, r := range lc.tcp.Routes {
			if !closed(r.Metadata) {
				kept = append(kept, r)
			}
		}
		lc.tcp.Routes = kept
	}
}

func layer4AuthorizationMessage(where []string) string {
	return fmt.Sprintf("authorization is not supported by Portico yet on TCP, TLS and UDP listeners and routes (%s): "+
		"they refuse every connection (fail closed); it is enforced on HTTP and HTTPS listeners.", strings.Join(where, ", "))
}
