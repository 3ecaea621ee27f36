package kubernetes

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/pipeline"
)

// Fleet is what one proxy fleet's objects are rendered from.
type Fleet struct {
	// Key is the fleet (the xDS node cluster): "<namespace>/<gateway>", or
	// the GatewayClass name when the class merges gateways.
	Key    string
	Class  string
	Merged bool
	// Gateways of the fleet, by namespace/name (one unless merged).
	Gateways []*gwapiv1.Gateway
	// Proxy is the EnvoyProxy in force: the GatewayClass's parameters, or
	// the EnvoyGateway configuration's envoyProxy (nil: none).
	Proxy *egv1a1.EnvoyProxy
	// Ports are the Service's ports, by port.
	Ports []ServicePort
}

// ServicePort is one listener port of the proxy Service.
type ServicePort struct {
	Name       string
	Protocol   corev1.Protocol
	Port       int32
	TargetPort int32
}

// FleetsOf lists the fleets of a translation, by key: every fleet the
// pipeline produced, with its Gateways and EnvoyProxy. It is a pure
// function of its input.
func FleetsOf(res *pipeline.Result, cfg *egv1a1.EnvoyGateway) []*Fleet {
	if res == nil || res.Gateway == nil {
		return nil
	}
	gw := res.Gateway
	byKey := map[string]*Fleet{}
	classes := map[string]*gwapiv1.GatewayClass{}
	for _, c := range gw.GatewayClasses {
		classes[c.Name] = c
	}
	for _, g := range gw.Gateways {
		key, merged := "", false
		if _, ok := gw.XdsIR[g.Namespace+"/"+g.Name]; ok {
			key = g.Namespace + "/" + g.Name
		} else if _, ok := gw.XdsIR[string(g.Spec.GatewayClassName)]; ok {
			key, merged = string(g.Spec.GatewayClassName), true
		} else {
			continue // not accepted: no proxy
		}
		f := byKey[key]
		if f == nil {
			f = &Fleet{Key: key, Class: string(g.Spec.GatewayClassName), Merged: merged}
			f.Proxy = proxyOf(gw.EnvoyProxies, classes[f.Class], cfg)
			if p := gatewayProxyOf(gw.EnvoyProxiesForGateways, g); p != nil && !merged {
				f.Proxy = p
			}
			byKey[key] = f
		}
		f.Gateways = append(f.Gateways, g)
	}
	out := make([]*Fleet, 0, len(byKey))
	for _, f := range byKey {
		sort.Slice(f.Gateways, func(i, j int) bool {
			return f.Gateways[i].Namespace+"/"+f.Gateways[i].Name < f.Gateways[j].Namespace+"/"+f.Gateways[j].Name
		})
		f.Ports = servicePorts(f)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// proxyOf is the class's EnvoyProxy (the translator's copy, whose spec is
// the object's), else the configuration's default spec.
func proxyOf(proxies []*egv1a1.EnvoyProxy, class *gwapiv1.GatewayClass, cfg *egv1a1.EnvoyGateway) *egv1a1.EnvoyProxy {
	if class != nil && class.Spec.ParametersRef != nil && class.Spec.ParametersRef.Namespace != nil {
		ref := class.Spec.ParametersRef
		for _, p := range proxies {
			if p.Namespace == string(*ref.Namespace) && p.Name == ref.Name {
				return p
			}
		}
	}
	if cfg != nil && cfg.EnvoyProxy != nil {
		return &egv1a1.EnvoyProxy{Spec: *cfg.EnvoyProxy}
	}
	return nil
}

// gatewayProxyOf is the EnvoyProxy of a Gateway's
// infrastructure.parametersRef, which replaces its class's.
func gatewayProxyOf(proxies []*egv1a1.EnvoyProxy, g *gwapiv1.Gateway) *egv1a1.EnvoyProxy {
	if g.Spec.Infrastructure == nil || g.Spec.Infrastructure.ParametersRef == nil {
		return nil
	}
	for _, p := range proxies {
		if p.Namespace == g.Namespace && p.Name == g.Spec.Infrastructure.ParametersRef.Name {
			return p
		}
	}
	return nil
}

// servicePorts are the fleet's listener ports as Envoy Gateway exposes
// them: "<protocol>-<port>", TCP, to the container port (ports under 1024
// shifted by 10000 unless useListenerPortAsContainerPort). Listeners of
// the same port share one Service port.
func servicePorts(f *Fleet) []ServicePort {
	keep := false
	if f.Proxy != nil && f.Proxy.Spec.Provider != nil && f.Proxy.Spec.Provider.Kubernetes != nil {
		if v := f.Proxy.Spec.Provider.Kubernetes.UseListenerPortAsContainerPort; v != nil {
			keep = *v
		}
	}
	seen := map[int32]bool{}
	var out []ServicePort
	for _, g := range f.Gateways {
		for _, l := range g.Spec.Listeners {
			port := l.Port
			if seen[port] {
				continue
			}
			seen[port] = true
			proto := corev1.ProtocolTCP
			if l.Protocol == gwapiv1.UDPProtocolType {
				proto = corev1.ProtocolUDP
			}
			target := port
			if port < 1024 && !keep {
				target = port + privilegedPortShift
			}
			out = append(out, ServicePort{Name: fmt.Sprintf("%s-%d", strings.ToLower(string(l.Protocol)), port),
				Protocol: proto, Port: port, TargetPort: target})
		}
	}
	slices.SortFunc(out, func(a, b ServicePort) int { return int(a.Port - b.Port) })
	return out
}
