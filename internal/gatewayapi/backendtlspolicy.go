package gatewayapi

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// BackendTLSPolicy is not translated yet. It asks for TLS toward a Service
// or Backend; sending the same requests in plaintext would defeat it, so
// every route that would reach a targeted backend (or mirror to one)
// answers 500 instead, and the policy is Accepted=False on each Gateway
// concerned.

// processBackendTLSPolicies runs after routes are attached.
func (t *translation) processBackendTLSPolicies() {
	policies := append([]*gwapiv1.BackendTLSPolicy(nil), t.in.BackendTLSPolicies...)
	sort.SliceStable(policies, func(i, j int) bool {
		return key(policies[i].Namespace, policies[i].Name) < key(policies[j].Namespace, policies[j].Name)
	})
	// targets maps "kind ns/name" of a backend to the policies that target it.
	targets := map[string][]int{}
	states := make([]*attachment, len(policies))
	for i, p := range policies {
		states[i] = newAttachment()
		for _, ref := range p.Spec.TargetRefs {
			kind := string(ref.Kind)
			if (string(ref.Group) == "" && kind == "Service") || (string(ref.Group) == egv1a1.GroupName && kind == egv1a1.KindBackend) {
				k := kind + " " + key(p.Namespace, string(ref.Name))
				targets[k] = append(targets[k], i)
			}
		}
	}
	for _, gc := range t.gateways {
		for _, lc := range gc.listeners {
			if lc.ir == nil {
				continue
			}
			for _, r := range lc.ir.Routes {
				for _, i := range backendTLSPoliciesOf(r, targets) {
					r.DirectResponse = &ir.DirectResponse{StatusCode: 500}
					states[i].ancestor(gatewayAncestor(gc.gw.Namespace, gc.gw.Name, ""), gc)
				}
			}
		}
	}
	msg := kindMessage("BackendTLSPolicy", "routes to the backends it targets answer 500 rather than send plaintext")
	for i, in := range policies {
		p := in.DeepCopy()
		p.Status = gwapiv1.PolicyStatus{}
		cond := newCondition(string(gwapiv1.PolicyConditionAccepted), "False", ReasonUnsupportedKind, msg, p.Generation)
		ancestors := states[i].sortedAncestors()
		if len(ancestors) == 0 && len(p.Spec.TargetRefs) > 0 {
			// No route uses a target: name the first target, so the
			// policy still shows why it does nothing.
			ref := p.Spec.TargetRefs[0]
			ancestors = []*ancestorInfo{{ref: gwapiv1.ParentReference{
				Group: ptr(ref.Group), Kind: ptr(ref.Kind), Namespace: ptr(gwapiv1.Namespace(p.Namespace)), Name: ref.Name,
			}}}
		}
		for _, a := range ancestors {
			p.Status.Ancestors = append(p.Status.Ancestors, gwapiv1.PolicyAncestorStatus{
				AncestorRef: a.ref, ControllerName: gwapiv1.GatewayController(t.opts.ControllerName),
				Conditions: []metav1.Condition{cond},
			})
		}
		t.result.BackendTLSPolicies = append(t.result.BackendTLSPolicies, p)
	}
}

// backendTLSPoliciesOf returns the policies targeting a backend the route
// sends to or mirrors to.
func backendTLSPoliciesOf(r *ir.HTTPRoute, targets map[string][]int) []int {
	if len(targets) == 0 {
		return nil
	}
	var out []int
	add := func(d *ir.RouteDestination) {
		if d == nil {
			return
		}
		for _, s := range d.Settings {
			if m := s.Metadata; m != nil {
				out = append(out, targets[m.Kind+" "+key(m.Namespace, m.Name)]...)
			}
		}
	}
	add(r.Destination)
	for _, m := range r.Mirrors {
		add(m.Destination)
	}
	return out
}
