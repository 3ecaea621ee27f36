package gatewayapi

import (
	"encoding/json"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
)

// Messages of the EnvoyPatchPolicy Accepted condition.
const (
	msgPatchPolicyDisabled = "EnvoyPatchPolicy is disabled in the EnvoyGateway configuration"
	msgPolicyAccepted      = "Policy has been accepted."
)

// ProcessEnvoyPatchPolicies attaches the EnvoyPatchPolicies of the input to
// the IR of their target (a Gateway, or a GatewayClass whose gateways are
// merged) and returns a copy of every policy carrying its Accepted status.
// The Programmed condition comes later, from the patch stage, which is the
// only one that knows whether the patches applied.
//
// It runs after Translate (it needs the IR keys Translate chose) and, like
// Translate, is a pure function of its input. The IR policies are ordered
// by priority, then creation time, namespace and name: the patch stage
// applies them in that order.
func ProcessEnvoyPatchPolicies(in *resource.Set, opts Options, r *Result) []*egv1a1.EnvoyPatchPolicy {
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	policies := append([]*egv1a1.EnvoyPatchPolicy(nil), in.EnvoyPatchPolicies...)
	sort.SliceStable(policies, func(i, j int) bool {
		if policies[i].Spec.Priority != policies[j].Spec.Priority {
			return policies[i].Spec.Priority < policies[j].Spec.Priority
		}
		return olderFirst(&policies[i].ObjectMeta, &policies[j].ObjectMeta)
	})
	classes := map[string]bool{}
	for _, gc := range r.GatewayClasses {
		classes[gc.Name] = true
	}
	gateways := map[string]*gwapiv1.Gateway{}
	for _, g := range r.Gateways {
		gateways[key(g.Namespace, g.Name)] = g
	}
	var out []*egv1a1.EnvoyPatchPolicy
	for _, in := range policies {
		p := in.DeepCopy()
		p.Status = gwapiv1a2.PolicyStatus{}
		irKey, reason, msg := resolvePatchTarget(p, opts, r, classes, gateways)
		cond := newCondition(string(gwapiv1.PolicyConditionAccepted), "False", reason, msg, p.Generation)
		if irKey != "" {
			cond = newCondition(string(gwapiv1.PolicyConditionAccepted), "True",
				string(gwapiv1.PolicyReasonAccepted), msgPolicyAccepted, p.Generation)
			x := r.XdsIR[irKey]
			x.EnvoyPatchPolicies = append(x.EnvoyPatchPolicies, patchPolicyIR(p))
		}
		p.Status.Ancestors = []gwapiv1.PolicyAncestorStatus{{
			AncestorRef:    patchAncestor(p),
			ControllerName: gwapiv1.GatewayController(opts.ControllerName),
			Conditions:     []metav1.Condition{cond},
		}}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		return key(out[i].Namespace, out[i].Name) < key(out[j].Namespace, out[j].Name)
	})
	return out
}

// resolvePatchTarget returns the IR key a policy patches, or the reason
// and message of Accepted=False.
func resolvePatchTarget(p *egv1a1.EnvoyPatchPolicy, opts Options, r *Result,
	classes map[string]bool, gateways map[string]*gwapiv1.Gateway) (irKey, reason, msg string) {
	invalid := string(gwapiv1.PolicyReasonInvalid)
	notFound := string(gwapiv1.PolicyReasonTargetNotFound)
	ref := p.Spec.TargetRef
	if !opts.EnableEnvoyPatchPolicy {
		return "", egv1a1.PolicyReasonDisabled, msgPatchPolicyDisabled
	}
	if p.Spec.Type != egv1a1.JSONPatchEnvoyPatchType {
		return "", invalid, fmt.Sprintf("Unsupported type %q: only %s is supported", p.Spec.Type, egv1a1.JSONPatchEnvoyPatchType)
	}
	if ref.Namespace != nil && string(*ref.Namespace) != p.Namespace {
		return "", invalid, fmt.Sprintf("targetRef.namespace %q must be the policy's namespace %q", *ref.Namespace, p.Namespace)
	}
	if string(ref.Group) != gwapiv1.GroupName || (ref.Kind != "Gateway" && ref.Kind != "GatewayClass") {
		return "", invalid, fmt.Sprintf("TargetRef %s/%s is not supported: the supported kinds are %s/Gateway, and %s/GatewayClass when its EnvoyProxy merges gateways",
			ref.Group, ref.Kind, gwapiv1.GroupName, gwapiv1.GroupName)
	}
	name := string(ref.Name)
	if ref.Kind == "GatewayClass" {
		if _, ok := r.XdsIR[name]; ok {
			return name, "", ""
		}
		if !classes[name] {
			return "", notFound, fmt.Sprintf("GatewayClass %s not found or not managed by this controller", name)
		}
		for _, g := range r.Gateways {
			if string(g.Spec.GatewayClassName) == name {
				return "", invalid, fmt.Sprintf("GatewayClass %s does not merge gateways (its EnvoyProxy spec.mergeGateways is not true): target each Gateway instead", name)
			}
		}
		return "", notFound, fmt.Sprintf("GatewayClass %s has no Gateway: there is no xDS to patch", name)
	}
	gk := key(p.Namespace, name)
	if _, ok := r.XdsIR[gk]; ok {
		return gk, "", ""
	}
	if g := gateways[gk]; g != nil {
		class := string(g.Spec.GatewayClassName)
		return "", invalid, fmt.Sprintf("Gateway %s is merged into the proxy of GatewayClass %s (mergeGateways): target the GatewayClass %s instead", gk, class, class)
	}
	return "", notFound, fmt.Sprintf("Gateway %s not found or not managed by this controller", gk)
}

// patchAncestor is the targetRef as a status ancestor: the Gateway in the
// policy's namespace, or the cluster-scoped GatewayClass.
func patchAncestor(p *egv1a1.EnvoyPatchPolicy) gwapiv1.ParentReference {
	ref := p.Spec.TargetRef
	a := gwapiv1.ParentReference{
		Group: ptr(gwapiv1.Group(ref.Group)),
		Kind:  ptr(gwapiv1.Kind(ref.Kind)),
		Name:  gwapiv1.ObjectName(ref.Name),
	}
	if ref.Kind != "GatewayClass" {
		a.Namespace = ptr(gwapiv1.Namespace(p.Namespace))
	}
	return a
}

// patchPolicyIR is the part of a policy the patch stage needs. Values stay
// as decoded JSON: they are re-encoded into the JSON Patch document.
func patchPolicyIR(p *egv1a1.EnvoyPatchPolicy) *ir.EnvoyPatchPolicy {
	out := &ir.EnvoyPatchPolicy{
		Name:       p.Name,
		Namespace:  p.Namespace,
		Generation: p.Generation,
		Priority:   p.Spec.Priority,
	}
	for _, jp := range p.Spec.JSONPatches {
		op := ir.JSONPatchOperation{
			Op:       string(jp.Operation.Op),
			Path:     jp.Operation.Path,
			JSONPath: jp.Operation.JSONPath,
			From:     jp.Operation.From,
		}
		if jp.Operation.Value != nil && len(jp.Operation.Value.Raw) > 0 {
			var v any
			if err := json.Unmarshal(jp.Operation.Value.Raw, &v); err == nil {
				op.Value = v
			}
		}
		out.JSONPatches = append(out.JSONPatches, &ir.JSONPatchConfig{
			Type:      string(jp.Type),
			Name:      jp.Name,
			Operation: op,
		})
	}
	return out
}
