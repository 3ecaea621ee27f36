package gatewayapi

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/support"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
)

// EnvoyProxy resolution, as Envoy Gateway does it: a GatewayClass's
// parametersRef names the EnvoyProxy of its Gateways, and a Gateway's
// infrastructure.parametersRef (an EnvoyProxy in its namespace) replaces it
// for that Gateway, unless the class merges its Gateways into one fleet. An
// invalid EnvoyProxy (Envoy Gateway's validation: bootstrap, access log
// settings) makes its users Accepted=False with reason InvalidParameters.
// Fields the ledger marks not supported make the EnvoyProxy Accepted=False
// naming them while the rest of it applies.

const msgEnvoyProxyAccepted = "EnvoyProxy has been accepted."

// classParams is what a GatewayClass's parametersRef contributes.
type classParams struct {
	proxy *egv1a1.EnvoyProxy // status-carrying copy, nil without parametersRef
}

// merged reports whether the class's gateways share one proxy fleet.
func (p classParams) merged() bool {
	return p.proxy != nil && p.proxy.Spec.MergeGateways != nil && *p.proxy.Spec.MergeGateways
}

// proxyInfo is one EnvoyProxy used by a class or a Gateway, judged once.
type proxyInfo struct {
	obj      *egv1a1.EnvoyProxy // status-carrying copy shared by every user
	invalid  string             // Envoy Gateway's validation error
	notYet   []string
	noEffect string
	forClass bool
}

// envoyProxy returns the EnvoyProxy ns/name, judged, or nil if absent.
func (t *translation) envoyProxy(ns, name string) *proxyInfo {
	k := key(ns, name)
	if pi := t.proxies[k]; pi != nil {
		return pi
	}
	for _, ep := range t.in.EnvoyProxies {
		if ep.Namespace != ns || ep.Name != name {
			continue
		}
		pi := &proxyInfo{obj: ep.DeepCopy()}
		pi.obj.Status = egv1a1.EnvoyProxyStatus{}
		if err := validateEnvoyProxy(&ep.Spec); err != nil {
			pi.invalid = err.Error()
		}
		findings := support.Findings(egv1a1.KindEnvoyProxy, ep)
		var noEffect []support.Finding
		for _, f := range findings {
			switch {
			case t.opts.KubernetesInfrastructure && appliedByKubernetesInfra(f.Path):
				// internal/infra/kubernetes applies these, and reports
				// what it cannot (a failed patch, a DaemonSet).
			case t.opts.KubernetesInfrastructure && f.Entry.State == support.NoEffect:
				noEffect = append(noEffect, f)
			case f.Entry.State == support.NotYet || !t.opts.HostInfrastructure:
				// Outside standalone mode the Kubernetes settings mean
				// something: until they are implemented, they are not
				// supported.
				pi.notYet = append(pi.notYet, f.Path)
			default:
				noEffect = append(noEffect, f)
			}
		}
		switch {
		case t.opts.KubernetesInfrastructure:
			pi.noEffect = noEffectMessageIn("Kubernetes mode", noEffect)
		case t.opts.HostInfrastructure:
			pi.noEffect = noEffectMessage(noEffect)
		}
		t.proxies[k] = pi
		return pi
	}
	return nil
}

// appliedByKubernetesInfra reports whether an EnvoyProxy field is one the
// Kubernetes infrastructure applies: spec.provider.type and
// spec.provider.kubernetes with everything under it.
func appliedByKubernetesInfra(path string) bool {
	return path == "spec.provider.type" || path == "spec.provider.kubernetes" || strings.HasPrefix(path, "spec.provider.kubernetes.")
}

// addAncestor records a user of the EnvoyProxy in its status.
func (pi *proxyInfo) addAncestor(ref gwapiv1.ParentReference) {
	gen := pi.obj.Generation
	var cond metav1.Condition
	switch {
	case pi.invalid != "":
		cond = newCondition("Accepted", "False", string(gwapiv1.GatewayClassReasonInvalidParameters), pi.invalid, gen)
	case len(pi.notYet) > 0:
		cond = newCondition("Accepted", "False", ReasonUnsupportedField, joinSentences(fmt.Sprintf(
			"%s %s not supported by Portico yet; the rest of this EnvoyProxy applies.", strings.Join(pi.notYet, ", "), isAre(len(pi.notYet))),
			pi.noEffect), gen)
	default:
		cond = newCondition("Accepted", "True", "Accepted", joinSentences(msgEnvoyProxyAccepted, pi.noEffect), gen)
	}
	pi.obj.Status.Ancestors = append(pi.obj.Status.Ancestors, egv1a1.EnvoyProxyAncestorStatus{
		AncestorRef: ref, Conditions: []metav1Condition{cond},
	})
}

// resolveClassParams resolves a GatewayClass parametersRef to an EnvoyProxy.
// It returns the messages of Accepted=False reason InvalidParameters for the
// class and for its Gateways ("" when valid).
func (t *translation) resolveClassParams(gc *gwapiv1.GatewayClass) (classParams, string, string) {
	ref := gc.Spec.ParametersRef
	if ref == nil {
		return classParams{}, "", ""
	}
	if string(ref.Group) != egv1a1.GroupName || string(ref.Kind) != egv1a1.KindEnvoyProxy {
		msg := fmt.Sprintf("Invalid parametersRef: unsupported kind %s/%s; only %s/%s is supported",
			ref.Group, ref.Kind, egv1a1.GroupName, egv1a1.KindEnvoyProxy)
		return classParams{}, msg, msg
	}
	if ref.Namespace == nil || *ref.Namespace == "" {
		msg := "Invalid parametersRef: namespace is required for an EnvoyProxy reference"
		return classParams{}, msg, msg
	}
	pi := t.envoyProxy(string(*ref.Namespace), ref.Name)
	if pi == nil {
		msg := fmt.Sprintf("Invalid parametersRef: EnvoyProxy %s/%s not found", *ref.Namespace, ref.Name)
		return classParams{}, msg, msg
	}
	pi.forClass = true
	pi.addAncestor(gwapiv1.ParentReference{
		Group: ptr(gwapiv1.Group(gwapiv1.GroupName)), Kind: ptr(gwapiv1.Kind("GatewayClass")), Name: gwapiv1.ObjectName(gc.Name),
	})
	if pi.invalid != "" {
		// Envoy Gateway's two messages, the Gateway's with its double colon.
		return classParams{proxy: pi.obj}, "Invalid parametersRef: " + pi.invalid, "Invalid parametersRef:: " + pi.invalid
	}
	return classParams{proxy: pi.obj}, "", ""
}

// gatewayProxy resolves a Gateway's infrastructure.parametersRef. It
// returns the EnvoyProxy, or the message of the Gateway's Accepted=False
// (InvalidParameters).
func (t *translation) gatewayProxy(gw *gwapiv1.Gateway) (*egv1a1.EnvoyProxy, string) {
	ref := gw.Spec.Infrastructure.ParametersRef
	if string(ref.Group) != egv1a1.GroupName || string(ref.Kind) != egv1a1.KindEnvoyProxy {
		return nil, fmt.Sprintf("Invalid parametersRef: unsupported kind %s/%s; only %s/%s is supported",
			ref.Group, ref.Kind, egv1a1.GroupName, egv1a1.KindEnvoyProxy)
	}
	pi := t.envoyProxy(gw.Namespace, ref.Name)
	if pi == nil {
		return nil, fmt.Sprintf("Invalid parametersRef: EnvoyProxy %s/%s not found", gw.Namespace, ref.Name)
	}
	pi.addAncestor(gatewayAncestor(gw.Namespace, gw.Name, ""))
	if pi.invalid != "" {
		return nil, "Invalid parametersRef:: " + pi.invalid
	}
	return pi.obj, ""
}

// collectEnvoyProxies puts every EnvoyProxy in use into the result: those
// of a GatewayClass in EnvoyProxies, the others in EnvoyProxiesForGateways.
func (t *translation) collectEnvoyProxies() {
	for _, pi := range t.proxies {
		if pi.forClass {
			t.result.EnvoyProxies = append(t.result.EnvoyProxies, pi.obj)
		} else if len(pi.obj.Status.Ancestors) > 0 {
			t.result.EnvoyProxiesForGateways = append(t.result.EnvoyProxiesForGateways, pi.obj)
		}
	}
	for _, l := range [][]*egv1a1.EnvoyProxy{t.result.EnvoyProxies, t.result.EnvoyProxiesForGateways} {
		sort.Slice(l, func(i, j int) bool { return key(l[i].Namespace, l[i].Name) < key(l[j].Namespace, l[j].Name) })
	}
}

// validateEnvoyProxy applies Envoy Gateway's EnvoyProxy validation (the
// parts Portico reads): the bootstrap and the access log settings.
func validateEnvoyProxy(spec *egv1a1.EnvoyProxySpec) error {
	var errs []string
	if err := bootstrap.Validate(spec.Bootstrap); err != nil {
		errs = append(errs, err.Error())
	}
	errs = append(errs, accessLogErrors(spec)...)
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s", errs[0])
	}
	return fmt.Errorf("[%s]", strings.Join(errs, ", "))
}

// filterOrder maps EnvoyProxy spec.filterOrder onto the IR.
func filterOrder(p *egv1a1.EnvoyProxy) []ir.FilterPosition {
	if p == nil {
		return nil
	}
	var out []ir.FilterPosition
	for _, f := range p.Spec.FilterOrder {
		pos := ir.FilterPosition{Name: string(f.Name)}
		if f.Before != nil {
			pos.Before = ptr(string(*f.Before))
		}
		if f.After != nil {
			pos.After = ptr(string(*f.After))
		}
		out = append(out, pos)
	}
	return out
}

// preserveRouteOrder reports whether routes keep their rule order instead
// of Gateway API precedence.
func preserveRouteOrder(p *egv1a1.EnvoyProxy) bool {
	return p != nil && p.Spec.PreserveRouteOrder != nil && *p.Spec.PreserveRouteOrder
}
