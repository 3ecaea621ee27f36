package gatewayapi

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/support"
)

const msgBackendAccepted = "The Backend was accepted"

// joinSentences joins non-empty sentences with a space.
func joinSentences(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// backendInfo is a Backend with its verdict, computed once per translation
// so every route that refers to it sees the same answer.
type backendInfo struct {
	obj     *egv1a1.Backend
	invalid string // why the Backend is not accepted; empty when it is
}

// processBackends validates every Backend and records its status. With the
// Backend API disabled nothing is judged: Envoy Gateway ignores Backends
// then, and routes that use one say why.
func (t *translation) processBackends() {
	t.backends = map[string]*backendInfo{}
	if !t.opts.EnableBackend {
		return
	}
	for _, in := range t.in.Backends {
		b := in.DeepCopy()
		findings := support.Findings(egv1a1.KindBackend, b)
		info := &backendInfo{obj: b, invalid: unsupportedBackend(b, support.Select(findings, support.NotYet))}
		reason := ReasonUnsupportedField
		if info.invalid == "" {
			info.invalid, reason = t.validateBackend(b), "Invalid"
		}
		cond := newCondition("Accepted", "True", "Accepted", joinSentences(msgBackendAccepted,
			noEffectMessage(support.Select(findings, support.NoEffect))), b.Generation)
		if info.invalid != "" {
			cond = newCondition("Accepted", "False", reason, info.invalid, b.Generation)
		}
		b.Status = egv1a1.BackendStatus{Conditions: []metav1Condition{cond}}
		t.backends[key(b.Namespace, b.Name)] = info
		t.result.Backends = append(t.result.Backends, b)
	}
	sort.Slice(t.result.Backends, func(i, j int) bool {
		a, b := t.result.Backends[i], t.result.Backends[j]
		return key(a.Namespace, a.Name) < key(b.Namespace, b.Name)
	})
}

// unsupportedBackend says what a Backend asks for that Portico does not do
// yet, or "".
func unsupportedBackend(b *egv1a1.Backend, notYet []support.Finding) string {
	var other []support.Finding
	msg := ""
	for _, f := range notYet {
		if f.Entry.Path == "spec.type" {
			msg = fmt.Sprintf("Backend type %s is not supported by Portico yet: only type Endpoints (a list of ip, fqdn or unix endpoints) is, "+
				"so requests cannot be sent to the host they name.", f.Entry.Value)
			continue
		}
		other = append(other, f)
	}
	if len(other) > 0 {
		var paths []string
		for _, f := range other {
			paths = append(paths, f.Path)
		}
		msg = joinSentences(msg, fmt.Sprintf("%s %s not supported by Portico yet.", strings.Join(paths, ", "), isAre(len(paths))))
	}
	return msg
}

// validateBackend applies the checks the CRD schema cannot express.
func (t *translation) validateBackend(b *egv1a1.Backend) string {
	if len(b.Spec.Endpoints) == 0 {
		return "The Backend has no endpoints: a Backend of type Endpoints needs at least one ip, fqdn or unix endpoint"
	}
	for i, ep := range b.Spec.Endpoints {
		set := 0
		for _, present := range []bool{ep.IP != nil, ep.FQDN != nil, ep.Unix != nil} {
			if present {
				set++
			}
		}
		if set != 1 {
			return fmt.Sprintf("endpoints[%d] must set exactly one of ip, fqdn and unix", i)
		}
		if ep.IP == nil {
			continue
		}
		addr, err := netip.ParseAddr(ep.IP.Address)
		if err != nil {
			return fmt.Sprintf("endpoints[%d]: %q is not an IP address", i, ep.IP.Address)
		}
		if addr.IsLoopback() && !t.opts.HostInfrastructure {
			return fmt.Sprintf("IP address %s in the loopback range is only supported when using the Host infrastructure", addr)
		}
	}
	return ""
}

// backendSetting resolves a route's reference to a Backend.
func (t *translation) backendSetting(ns string, br gwapiv1.BackendRef, probs *ruleProblems) *ir.DestinationSetting {
	b, reason, err := t.lookupBackend(ns, string(br.Name))
	if err != nil {
		probs.ref(reason, "%s.", err)
		return nil
	}
	setting, unix := backendDestination(b)
	if unix {
		// Envoy Gateway allows unix sockets for external services
		// (ext_authz, ext_proc) only; a route backend must be TCP.
		probs.ref(gwapiv1.RouteReasonUnsupportedValue,
			"Backend %s/%s: unix domain socket endpoints are only supported for external services, not route backendRefs.", ns, br.Name)
		return nil
	}
	return setting
}

// backendDestination is the destination setting of a valid Backend, and
// whether it has unix socket endpoints (then every endpoint is one, or the
// Backend mixes kinds: both are the caller's to refuse).
func backendDestination(b *egv1a1.Backend) (*ir.DestinationSetting, bool) {
	setting := &ir.DestinationSetting{
		Protocol: "HTTP",
		Metadata: &ir.ResourceMetadata{Kind: egv1a1.KindBackend, Name: b.Name, Namespace: b.Namespace},
	}
	for _, p := range b.Spec.AppProtocols {
		if p == appProtocolH2C {
			setting.Protocol = "HTTP2"
		}
	}
	eps, addrType, unix := backendEndpoints(b)
	setting.Endpoints, setting.AddressType = eps, ptr(addrType)
	return setting, unix
}

// lookupBackend finds a usable Backend, or says why there is none (with
// the route condition reason that goes with it).
func (t *translation) lookupBackend(ns, name string) (*egv1a1.Backend, gwapiv1.RouteConditionReason, error) {
	if !t.opts.EnableBackend {
		return nil, gwapiv1.RouteReasonInvalidKind, fmt.Errorf(
			"Backend %s/%s cannot be used: the Backend API is disabled; set extensionApis.enableBackend in the EnvoyGateway configuration", ns, name)
	}
	info := t.backends[key(ns, name)]
	if info == nil {
		return nil, gwapiv1.RouteReasonBackendNotFound, fmt.Errorf("Backend %s/%s not found", ns, name)
	}
	if info.invalid != "" {
		return nil, gwapiv1.RouteReasonInvalidKind, fmt.Errorf("Backend %s/%s is invalid: %s", ns, name, strings.TrimSuffix(info.invalid, "."))
	}
	return info.obj, "", nil
}

// backendEndpoints are a Backend's endpoints with their address type (IP,
// FQDN or Mixed); unix reports unix-socket endpoints among them.
func backendEndpoints(b *egv1a1.Backend) (eps []*ir.DestinationEndpoint, addrType string, unix bool) {
	var ips, fqdns int
	for _, ep := range b.Spec.Endpoints {
		switch {
		case ep.IP != nil:
			ips++
			eps = append(eps, &ir.DestinationEndpoint{Host: ep.IP.Address, Port: uint32(ep.IP.Port)})
		case ep.FQDN != nil:
			fqdns++
			eps = append(eps, &ir.DestinationEndpoint{Host: ep.FQDN.Hostname, Port: uint32(ep.FQDN.Port)})
		case ep.Unix != nil:
			unix = true
			eps = append(eps, &ir.DestinationEndpoint{Path: ptr(ep.Unix.Path)})
		}
	}
	switch {
	case ips > 0 && fqdns > 0:
		addrType = "Mixed"
	case fqdns > 0:
		addrType = "FQDN"
	default:
		addrType = "IP"
	}
	return eps, addrType, unix
}

// appProtocolH2C is Envoy Gateway's app protocol for cleartext HTTP/2.
const appProtocolH2C egv1a1.AppProtocolType = "gateway.envoyproxy.io/h2c"
