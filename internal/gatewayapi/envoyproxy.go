package gatewayapi

import (
	"fmt"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

const msgEnvoyProxyAccepted = "EnvoyProxy has been accepted."

// classParams is what a GatewayClass's parametersRef contributes.
type classParams struct {
	proxy *egv1a1.EnvoyProxy // status-carrying copy, nil without parametersRef
}

// merged reports whether the class's gateways share one proxy fleet.
func (p classParams) merged() bool {
	return p.proxy != nil && p.proxy.Spec.MergeGateways != nil && *p.proxy.Spec.MergeGateways
}

// resolveClassParams resolves a GatewayClass parametersRef to an EnvoyProxy.
// It returns an error message for Accepted=False reason InvalidParameters.
func (t *translation) resolveClassParams(gc *gwapiv1.GatewayClass) (classParams, string) {
	ref := gc.Spec.ParametersRef
	if ref == nil {
		return classParams{}, ""
	}
	if string(ref.Group) != egv1a1.GroupName || string(ref.Kind) != egv1a1.KindEnvoyProxy {
		return classParams{}, fmt.Sprintf("Invalid parametersRef: unsupported kind %s/%s; only %s/%s is supported",
			ref.Group, ref.Kind, egv1a1.GroupName, egv1a1.KindEnvoyProxy)
	}
	if ref.Namespace == nil || *ref.Namespace == "" {
		return classParams{}, "Invalid parametersRef: namespace is required for an EnvoyProxy reference"
	}
	for _, ep := range t.in.EnvoyProxies {
		if ep.Namespace == string(*ref.Namespace) && ep.Name == ref.Name {
			proxy := ep.DeepCopy()
			proxy.Status = egv1a1.EnvoyProxyStatus{}
			proxy.Status.Ancestors = []egv1a1.EnvoyProxyAncestorStatus{{
				AncestorRef: gwapiv1.ParentReference{
					Group: ptr(gwapiv1.Group(gwapiv1.GroupName)),
					Kind:  ptr(gwapiv1.Kind("GatewayClass")),
					Name:  gwapiv1.ObjectName(gc.Name),
				},
				Conditions: []metav1Condition{newCondition("Accepted", "True", "Accepted", msgEnvoyProxyAccepted, ep.Generation)},
			}}
			return classParams{proxy: proxy}, ""
		}
	}
	return classParams{}, fmt.Sprintf("Invalid parametersRef: EnvoyProxy %s/%s not found", *ref.Namespace, ref.Name)
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
