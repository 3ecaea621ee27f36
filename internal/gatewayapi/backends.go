package gatewayapi

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// layer4 reports whether the route is a TCPRoute, TLSRoute or UDPRoute:
// its clusters carry raw bytes, so the setting's protocol is TCP or UDP
// and no BackendTLSPolicy applies (Envoy Gateway applies them to HTTP and
// gRPC routes).
func (ro routeObject) layer4() bool {
	return ro.kind == kindTCPRoute || ro.kind == kindTLSRoute || ro.kind == kindUDPRoute
}

// portProtocol is the Service port protocol the route's traffic needs.
func (ro routeObject) portProtocol() corev1.Protocol {
	if ro.kind == kindUDPRoute {
		return corev1.ProtocolUDP
	}
	return corev1.ProtocolTCP
}

// resolveBackendRef turns one backendRef into a destination setting, or
// records why it cannot and returns nil.
func (t *translation) resolveBackendRef(ro routeObject, br gwapiv1.BackendRef, name string, probs *ruleProblems) *ir.DestinationSetting {
	group, kind := "", "Service"
	if br.Group != nil {
		group = string(*br.Group)
	}
	if br.Kind != nil {
		kind = string(*br.Kind)
	}
	ns := ro.meta.Namespace
	if br.Namespace != nil && *br.Namespace != "" {
		ns = string(*br.Namespace)
	}
	if !t.index.refAllowed(gwapiv1.GroupName, ro.kind, ro.meta.Namespace, group, kind, ns, string(br.Name)) {
		probs.ref(gwapiv1.RouteReasonRefNotPermitted,
			"Backend ref to %s %s/%s not permitted by any ReferenceGrant.", kind, ns, br.Name)
		return nil
	}
	var setting *ir.DestinationSetting
	switch {
	case group == "" && kind == "Service":
		setting = t.serviceSetting(ns, br, ro.portProtocol(), probs)
	case group == egv1a1.GroupName && kind == egv1a1.KindBackend:
		setting = t.backendSetting(ns, br, probs)
	default:
		probs.ref(gwapiv1.RouteReasonInvalidKind, "Kind %s/%s is not supported as a backend.", group, kind)
		return nil
	}
	if setting == nil {
		return nil
	}
	if ro.layer4() {
		setting.Name, setting.Weight, setting.Protocol = name, backendWeight(br), string(ro.portProtocol())
		return setting
	}
	tg := btlsTarget{kind: egv1a1.KindBackend, namespace: ns, name: string(br.Name)}
	if kind == "Service" {
		tg = t.serviceTarget(ns, string(br.Name), *br.Port)
	}
	tls, err := t.backendTLSFor(tg, nil)
	if err != nil {
		probs.ref(reasonInvalidBackendTLS, "%s: requests to it would not use TLS.", err)
		return nil
	}
	setting.TLS = tls
	setting.Name = name
	if ro.kind == kindGRPCRoute {
		setting.Protocol = "GRPC" // an HTTP/2 upstream, as Envoy Gateway's gRPC destinations
	}
	setting.Weight = backendWeight(br)
	return setting
}

func backendWeight(br gwapiv1.BackendRef) *uint32 {
	weight := uint32(1)
	if br.Weight != nil {
		weight = uint32(*br.Weight)
	}
	return &weight
}

// reasonInvalidBackendTLS is Envoy Gateway's ResolvedRefs reason for a
// backend whose BackendTLSPolicy cannot be honoured.
const reasonInvalidBackendTLS gwapiv1.RouteConditionReason = "InvalidBackendTLS"

// serviceSetting resolves a Service backend to endpoints: the ready
// addresses of its EndpointSlices when there are any, else its external
// name, else its cluster IP (which is what a standalone user without a
// cluster can write). A Service is always an IP destination otherwise, as
// in Envoy Gateway, so a rule mixing it with IP Backends is one cluster.
func (t *translation) serviceSetting(ns string, br gwapiv1.BackendRef, proto corev1.Protocol, probs *ruleProblems) *ir.DestinationSetting {
	svc := t.index.services[key(ns, string(br.Name))]
	if svc == nil {
		probs.ref(gwapiv1.RouteReasonBackendNotFound, "Service %s/%s not found.", ns, br.Name)
		return nil
	}
	if br.Port == nil {
		probs.ref(gwapiv1.RouteReasonUnsupportedValue, "A valid port number corresponding to a port on Service %s/%s must be specified.", ns, br.Name)
		return nil
	}
	port := servicePortOf(svc, *br.Port, proto)
	if port == nil {
		probs.ref(gwapiv1.RouteReasonBackendNotFound, "%s Port %d not found on Service %s/%s.", proto, *br.Port, ns, br.Name)
		return nil
	}
	setting := newServiceSetting(svc, port)
	if msg := t.serviceEndpoints(svc, port, setting); msg != "" {
		probs.ref(gwapiv1.RouteReasonBackendNotFound, "%s", msg)
		return nil
	}
	return setting
}

// servicePort is the TCP port of a Service with that number, or nil.
func servicePort(svc *corev1.Service, number int32) *corev1.ServicePort {
	return servicePortOf(svc, number, corev1.ProtocolTCP)
}

// servicePortOf is the port of a Service with that number and protocol
// (an unset protocol is TCP), or nil.
func servicePortOf(svc *corev1.Service, number int32, proto corev1.Protocol) *corev1.ServicePort {
	for i := range svc.Spec.Ports {
		p := svc.Spec.Ports[i].Protocol
		if p == "" {
			p = corev1.ProtocolTCP
		}
		if svc.Spec.Ports[i].Port == number && p == proto {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}

// newServiceSetting is the destination setting of a Service port, without
// endpoints yet.
func newServiceSetting(svc *corev1.Service, port *corev1.ServicePort) *ir.DestinationSetting {
	setting := &ir.DestinationSetting{
		Protocol:    "HTTP",
		AddressType: ptr("IP"),
		Metadata: &ir.ResourceMetadata{
			Kind: "Service", Name: svc.Name, Namespace: svc.Namespace, SectionName: strconv.Itoa(int(port.Port)),
		},
	}
	if port.AppProtocol != nil && (*port.AppProtocol == "kubernetes.io/h2c" || *port.AppProtocol == "grpc") {
		setting.Protocol = "HTTP2"
	}
	return setting
}

// serviceEndpoints fills in the endpoints of a Service port: the ready
// addresses of its EndpointSlices when there are any, else its external
// name, else its cluster IP (which is what a standalone user without a
// cluster can write). It returns why none can be known, or "".
func (t *translation) serviceEndpoints(svc *corev1.Service, port *corev1.ServicePort, setting *ir.DestinationSetting) string {
	slices := t.index.endpointSlices[key(svc.Namespace, svc.Name)]
	switch {
	case len(slices) > 0:
		setting.Endpoints = sliceEndpoints(slices, port)
	case svc.Spec.Type == corev1.ServiceTypeExternalName && svc.Spec.ExternalName != "":
		setting.AddressType = ptr("FQDN")
		setting.Endpoints = []*ir.DestinationEndpoint{{Host: svc.Spec.ExternalName, Port: uint32(port.Port)}}
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		setting.Endpoints = []*ir.DestinationEndpoint{{Host: svc.Spec.ClusterIP, Port: uint32(port.Port)}}
	default:
		return t.unaddressedService(svc, setting)
	}
	return ""
}

// unaddressedService is a Service with no EndpointSlice, no cluster IP and
// no external name (Envoy Gateway's quickstart has none: a cluster assigns
// them). Offline, its endpoints are the pods a cluster would list;
// standalone, nothing can know them, so it says so unless a stand-in
// serves it.
func (t *translation) unaddressedService(svc *corev1.Service, setting *ir.DestinationSetting) string {
	switch {
	case !t.opts.Standalone:
		return ""
	case t.opts.ServiceStandIn != "":
		host, port, err := net.SplitHostPort(t.opts.ServiceStandIn)
		if p, perr := strconv.ParseUint(port, 10, 16); err == nil && perr == nil && p > 0 {
			if net.ParseIP(host) == nil {
				setting.AddressType = ptr("FQDN")
			}
			setting.Endpoints = []*ir.DestinationEndpoint{{Host: host, Port: uint32(p)}}
			return ""
		}
	}
	return fmt.Sprintf("Service %s/%s has no endpoints that can be known without a cluster (no EndpointSlice, no clusterIP, not ExternalName): "+
		"give it a clusterIP where the backend listens (e.g. 127.0.0.1), an EndpointSlice or type ExternalName, "+
		"or run portico with --demo-backend to stand in for it.", svc.Namespace, svc.Name)
}

// sliceEndpoints collects the ready endpoints of a service port, sorted so the
// output does not depend on slice order.
func sliceEndpoints(slices []*discoveryv1.EndpointSlice, sp *corev1.ServicePort) []*ir.DestinationEndpoint {
	seen := map[string]bool{}
	var out []*ir.DestinationEndpoint
	for _, es := range slices {
		var port int32 = -1
		for _, p := range es.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == sp.Name && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port < 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, addr := range ep.Addresses {
				k := addr + ":" + strconv.Itoa(int(port))
				if seen[k] {
					continue
				}
				seen[k] = true
				out = append(out, &ir.DestinationEndpoint{Host: addr, Port: uint32(port)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Port < out[j].Port
	})
	return out
}
