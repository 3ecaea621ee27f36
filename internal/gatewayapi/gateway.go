package gatewayapi

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/status/conditions"
	"github.com/portico-gw/portico/internal/support"
)

// gatewayContext is a Gateway being translated, with its listeners.
type gatewayContext struct {
	gw        *gwapiv1.Gateway
	irKey     string
	proxy     *egv1a1.EnvoyProxy // the Gateway's or else the class's EnvoyProxy, if any
	listeners []*listenerContext
}

// listenerContext is one Gateway listener: its status as it is being built
// and, when the listener can carry traffic, its IR.
type listenerContext struct {
	gateway        *gatewayContext
	spec           *gwapiv1.Listener
	status         *gwapiv1.ListenerStatus
	ir             *ir.HTTPListener
	tcp            *ir.TCPListener // TCP and TLS listeners (layer4.go)
	tlsMode        string          // TLS listeners: Passthrough or Terminate
	terminate      *ir.TLSConfig   // TLS listeners in Terminate mode
	udp            *ir.UDPListener
	allowedKinds   []gwapiv1.RouteGroupKind
	attachedRoutes int32
}

// ready reports whether routes attached to the listener reach the data plane.
func (lc *listenerContext) ready() bool { return lc.ir != nil || lc.tcp != nil || lc.udp != nil }

// unready keeps the listener from the data plane.
func (lc *listenerContext) unready() { lc.ir, lc.tcp, lc.udp = nil, nil, nil }

// processGateways translates every Gateway of an accepted class, in creation
// order then by namespace/name, which is how conflicts are broken.
func (t *translation) processGateways(classes map[string]*classInfo) {
	gateways := append([]*gwapiv1.Gateway(nil), t.in.Gateways...)
	sort.SliceStable(gateways, func(i, j int) bool { return olderFirst(&gateways[i].ObjectMeta, &gateways[j].ObjectMeta) })
	for _, in := range gateways {
		class := classes[string(in.Spec.GatewayClassName)]
		if class == nil {
			if !t.classExists(string(in.Spec.GatewayClassName)) {
				t.result.Gateways = append(t.result.Gateways, classMissing(in))
			}
			continue // another controller's class: not ours to judge
		}
		gw := in.DeepCopy()
		// The CRD defaults status to "Waiting for controller"; Gateway-level
		// conditions depend on the data plane, so the runtime sets them, and
		// offline translation (like egctl) shows listener status only.
		gw.Status = gwapiv1.GatewayStatus{}
		proxy, invalid := class.params.proxy, class.gatewayErr
		if invalid == "" && gw.Spec.Infrastructure != nil && gw.Spec.Infrastructure.ParametersRef != nil && !class.params.merged() {
			proxy, invalid = t.gatewayProxy(gw)
		}
		if invalid != "" {
			gw.Status.Conditions = []metav1.Condition{newCondition(string(gwapiv1.GatewayConditionAccepted), "False",
				string(gwapiv1.GatewayReasonInvalidParameters), invalid, gw.Generation)}
			t.result.Gateways = append(t.result.Gateways, gw)
			continue
		}
		gc := &gatewayContext{gw: gw, irKey: key(gw.Namespace, gw.Name), proxy: proxy}
		if class.params.merged() {
			gc.irKey = class.gc.Name
		}
		for i := range gw.Spec.Listeners {
			gc.listeners = append(gc.listeners, t.processListener(gc, &gw.Spec.Listeners[i]))
		}
		applyGatewayFindings(gc, support.Findings("Gateway", gw))
		markConflicts(gc.listeners)
		rejectLayer4BesideHTTP(gc.listeners)
		for _, lc := range gc.listeners {
			finishListenerConditions(lc)
		}
		// Status entries point into this slice, so it is filled only after
		// every listener context holds its final pointer.
		gw.Status.Listeners = make([]gwapiv1.ListenerStatus, len(gc.listeners))
		for i, lc := range gc.listeners {
			gw.Status.Listeners[i] = *lc.status
			lc.status = &gw.Status.Listeners[i]
		}
		t.gateways = append(t.gateways, gc)
		t.result.Gateways = append(t.result.Gateways, gw)
	}
}

// containerPort is where the proxy binds a Gateway port: privileged ports are
// shifted by 10000 so the proxy needs no privileges, as Envoy Gateway does.
func containerPort(port int32) uint32 {
	if port < 1024 {
		return uint32(port) + 10000
	}
	return uint32(port)
}

func (t *translation) processListener(gc *gatewayContext, l *gwapiv1.Listener) *listenerContext {
	gw := gc.gw
	lc := &listenerContext{
		gateway: gc,
		spec:    l,
		status:  &gwapiv1.ListenerStatus{Name: l.Name, SupportedKinds: []gwapiv1.RouteGroupKind{}},
	}
	gen := gw.Generation
	switch l.Protocol {
	case gwapiv1.HTTPProtocolType, gwapiv1.HTTPSProtocolType:
	case gwapiv1.TCPProtocolType, gwapiv1.TLSProtocolType, gwapiv1.UDPProtocolType:
		t.processLayer4Listener(lc)
		return lc
	default:
		lc.status.Conditions = conditions.Set(lc.status.Conditions, newCondition(
			string(gwapiv1.ListenerConditionAccepted), "False", string(gwapiv1.ListenerReasonUnsupportedProtocol),
			unsupportedProtocolMessage(l.Protocol), gen))
		return lc
	}

	lc.allowedKinds, lc.status.SupportedKinds = t.allowedRouteKinds(lc)
	lc.status.Conditions = conditions.Set(lc.status.Conditions, newCondition(
		string(gwapiv1.ListenerConditionAccepted), "True", string(gwapiv1.ListenerReasonAccepted), msgListenerAccepted, gen))

	var tlsConfig *ir.TLSConfig
	if l.Protocol == gwapiv1.HTTPSProtocolType {
		var ok bool
		if tlsConfig, ok = t.listenerTLS(lc); !ok {
			return lc
		}
	}
	if conditions.Find(lc.status.Conditions, string(gwapiv1.ListenerConditionResolvedRefs)) != nil {
		return lc // invalid route kinds
	}
	hostname := "*"
	if l.Hostname != nil && *l.Hostname != "" {
		hostname = string(*l.Hostname)
	}
	lc.ir = &ir.HTTPListener{
		Name:         irListenerName(gw, l),
		Address:      "0.0.0.0",
		Port:         containerPort(l.Port),
		ExternalPort: uint32(l.Port),
		Hostnames:    []string{hostname},
		TLS:          tlsConfig,
		Path:         ir.PathSettings{MergeSlashes: true, EscapedSlashesAction: "UnescapeAndRedirect"},
		Metadata: &ir.ResourceMetadata{
			Kind: "Gateway", Name: gw.Name, Namespace: gw.Namespace, SectionName: string(l.Name),
		},
	}
	return lc
}

// unsupportedProtocolMessage says that a listener's protocol is not served.
func unsupportedProtocolMessage(p gwapiv1.ProtocolType) string {
	return fmt.Sprintf("Protocol %s is not supported by Portico; supported protocols are HTTP, HTTPS, TLS, TCP and UDP.", p)
}

func irListenerName(gw *gwapiv1.Gateway, l *gwapiv1.Listener) string {
	return gw.Namespace + "/" + gw.Name + "/" + string(l.Name)
}

// allowedRouteKinds returns the route kinds the listener accepts and its
// supportedKinds status. Kinds Portico cannot serve on the listener are
// reported as InvalidRouteKinds rather than silently dropped.
func (t *translation) allowedRouteKinds(lc *listenerContext) ([]gwapiv1.RouteGroupKind, []gwapiv1.RouteGroupKind) {
	served := listenerRouteKinds(lc.spec.Protocol)
	if lc.spec.AllowedRoutes == nil || len(lc.spec.AllowedRoutes.Kinds) == 0 {
		return served, served
	}
	var allowed []gwapiv1.RouteGroupKind
	var invalid []string
	for _, k := range lc.spec.AllowedRoutes.Kinds {
		group := gwapiv1.GroupName
		if k.Group != nil {
			group = string(*k.Group)
		}
		if i := slices.IndexFunc(served, func(s gwapiv1.RouteGroupKind) bool { return s.Kind == k.Kind }); group == gwapiv1.GroupName && i >= 0 {
			allowed = append(allowed, served[i])
			continue
		}
		invalid = append(invalid, group+"/"+string(k.Kind))
	}
	if len(invalid) > 0 {
		lc.status.Conditions = conditions.Set(lc.status.Conditions, newCondition(
			string(gwapiv1.ListenerConditionResolvedRefs), "False", string(gwapiv1.ListenerReasonInvalidRouteKinds),
			fmt.Sprintf("Route kinds %s are not supported on a %s listener; supported: %s.", strings.Join(invalid, ", "), lc.spec.Protocol, kindNames(served)),
			lc.gateway.gw.Generation))
	}
	if allowed == nil {
		allowed = []gwapiv1.RouteGroupKind{}
	}
	return allowed, allowed
}

// httpListenerRouteKinds are the kinds an HTTP or HTTPS listener serves,
// in Envoy Gateway's supportedKinds order.
func httpListenerRouteKinds() []gwapiv1.RouteGroupKind {
	group := ptr(gwapiv1.Group(gwapiv1.GroupName))
	return []gwapiv1.RouteGroupKind{{Group: group, Kind: kindHTTPRoute}, {Group: group, Kind: kindGRPCRoute}}
}

// markConflicts applies Envoy Gateway's listener conflict rules. TCP and UDP
// listeners only conflict with a listener of their own protocol on the same
// port (the first one keeps it), so a TCP and a UDP listener share a port.
// The other protocols on one port must be compatible (HTTPS and TLS are)
// and need distinct hostnames.
func markConflicts(listeners []*listenerContext) {
	type portGroup struct {
		layer4 gwapiv1.ProtocolType // TCP or UDP; "" for the other protocols
		port   int32
	}
	var order []portGroup
	groups := map[portGroup][]*listenerContext{}
	for _, lc := range listeners {
		g := portGroup{port: lc.spec.Port}
		if p := lc.spec.Protocol; p == gwapiv1.TCPProtocolType || p == gwapiv1.UDPProtocolType {
			g.layer4 = p
		}
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], lc)
	}
	for _, g := range order {
		group := groups[g]
		if len(group) < 2 {
			continue
		}
		if g.layer4 != "" {
			for _, lc := range group[1:] {
				conflict(lc, gwapiv1.ListenerReasonProtocolConflict, fmt.Sprintf(
					"Only one %s listener is allowed in a given port; listener %s uses port %d.", g.layer4, group[0].spec.Name, g.port))
			}
			continue
		}
		for _, lc := range group {
			for _, other := range group {
				if other == lc {
					continue
				}
				if protocolClass(other.spec.Protocol) != protocolClass(lc.spec.Protocol) {
					conflict(lc, gwapiv1.ListenerReasonProtocolConflict, fmt.Sprintf(
						"All listeners for a given port must use a compatible protocol; listener %s uses %s on port %d.", other.spec.Name, other.spec.Protocol, lc.spec.Port))
					break
				}
				if hostnameOf(other.spec) == hostnameOf(lc.spec) {
					conflict(lc, gwapiv1.ListenerReasonHostnameConflict, fmt.Sprintf(
						"All listeners for a given port must use a unique hostname; listener %s uses the same hostname on port %d.", other.spec.Name, lc.spec.Port))
					break
				}
			}
		}
	}
}

// protocolClass groups the protocols that can share a port.
func protocolClass(p gwapiv1.ProtocolType) string {
	if p == gwapiv1.HTTPSProtocolType || p == gwapiv1.TLSProtocolType {
		return "https/tls"
	}
	return string(p)
}

func conflict(lc *listenerContext, reason gwapiv1.ListenerConditionReason, msg string) {
	lc.status.Conditions = conditions.Set(lc.status.Conditions, newCondition(
		string(gwapiv1.ListenerConditionConflicted), "True", string(reason), msg, lc.gateway.gw.Generation))
	lc.unready()
}

func hostnameOf(l *gwapiv1.Listener) string {
	if l.Hostname == nil {
		return ""
	}
	return string(*l.Hostname)
}

// finishListenerConditions derives Programmed and ResolvedRefs from what the
// listener went through, in the order Envoy Gateway lists them.
func finishListenerConditions(lc *listenerContext) {
	gen := lc.gateway.gw.Generation
	var conds []metav1.Condition
	if lc.ready() {
		conds = append(conds, newCondition(string(gwapiv1.ListenerConditionProgrammed), "True",
			string(gwapiv1.ListenerReasonProgrammed), msgListenerProgrammed, gen))
	} else {
		conds = append(conds, newCondition(string(gwapiv1.ListenerConditionProgrammed), "False",
			string(gwapiv1.ListenerReasonInvalid), "Listener is invalid, see other Conditions for details.", gen))
	}
	if c := conditions.Find(lc.status.Conditions, string(gwapiv1.ListenerConditionAccepted)); c != nil {
		conds = append(conds, *c)
	}
	if c := conditions.Find(lc.status.Conditions, string(gwapiv1.ListenerConditionResolvedRefs)); c != nil {
		conds = append(conds, *c)
	} else {
		conds = append(conds, newCondition(string(gwapiv1.ListenerConditionResolvedRefs), "True",
			string(gwapiv1.ListenerReasonResolvedRefs), msgListenerResolvedRefs, gen))
	}
	if c := conditions.Find(lc.status.Conditions, string(gwapiv1.ListenerConditionConflicted)); c != nil {
		conds = append(conds, *c)
	}
	lc.status.Conditions = conds
}

// classExists reports whether any GatewayClass of that name is in the input,
// whatever its controller.
func (t *translation) classExists(name string) bool {
	for _, gc := range t.in.GatewayClasses {
		if gc.Name == name {
			return true
		}
	}
	return false
}

// classMissing is a Gateway whose GatewayClass does not exist. No controller
// would ever pick it up, which in a cluster shows as a Gateway stuck without
// status; standalone, Portico is the only controller, so it says why.
func classMissing(in *gwapiv1.Gateway) *gwapiv1.Gateway {
	gw := in.DeepCopy()
	gw.Status = gwapiv1.GatewayStatus{Conditions: []metav1.Condition{newCondition(
		string(gwapiv1.GatewayConditionAccepted), "False", string(gwapiv1.GatewayReasonPending),
		fmt.Sprintf("GatewayClass %q does not exist; no controller will serve this Gateway until it does.", in.Spec.GatewayClassName),
		gw.Generation)}}
	return gw
}
