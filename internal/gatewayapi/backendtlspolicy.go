package gatewayapi

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/support"
)

// BackendTLSPolicy asks the proxy to use TLS toward a Service (or one port
// of it, by sectionName) or a Backend. The policies are validated once per
// translation (backendTLS.go resolves their CAs); every backend a route, an
// ext_proc or another external service sends to asks backendTLSFor, which
// returns the TLS settings or, for an invalid policy, an error: the caller
// then fails closed, since plaintext would defeat the policy. Each use is an
// ancestor on the policy's status: the Gateway for a route backend, the
// Envoy Gateway policy for an external service.

// Condition messages of BackendTLSPolicy (Envoy Gateway's where it has one).
const (
	msgBTLSAccepted     = "Policy has been accepted."
	msgBTLSResolvedRefs = "Resolved all the Object references."
)

// btlsTarget is a backend a BackendTLSPolicy may target: a Service port
// (port names the sectionName it matches) or a Backend.
type btlsTarget struct {
	kind, namespace, name, port string
}

func (tg btlsTarget) String() string { return tg.kind + " " + key(tg.namespace, tg.name) }

// btlsPolicy is one BackendTLSPolicy during translation.
type btlsPolicy struct {
	obj *gwapiv1.BackendTLSPolicy // status-carrying copy
	tls *ir.TLSUpstreamConfig     // nil when invalid
	// Validation failure: Accepted=False with reason and message, and a
	// ResolvedRefs=False reason when a reference is at fault.
	reason, msg, refReason string
	notYet                 string      // support.Paths of unsupported fields
	conflictsWith          *btlsPolicy // the older policy holding a target
	ancestors              map[string]gwapiv1.ParentReference
}

// backendTLSPolicies are the policies by target.
type backendTLSPolicies struct {
	list     []*btlsPolicy
	byTarget map[btlsKey]*btlsPolicy
	// losers are the policies that target a key another holds.
	losers map[btlsKey][]*btlsPolicy
}

type btlsKey struct{ kind, namespace, name, section string }

// prepareBackendTLSPolicies validates every policy and decides which one
// holds each target (the oldest; Gateway API's conflict rule).
func (t *translation) prepareBackendTLSPolicies() {
	policies := append([]*gwapiv1.BackendTLSPolicy(nil), t.in.BackendTLSPolicies...)
	sort.SliceStable(policies, func(i, j int) bool { return olderFirst(&policies[i].ObjectMeta, &policies[j].ObjectMeta) })
	bt := &backendTLSPolicies{byTarget: map[btlsKey]*btlsPolicy{}, losers: map[btlsKey][]*btlsPolicy{}}
	for _, in := range policies {
		p := &btlsPolicy{obj: in.DeepCopy(), ancestors: map[string]gwapiv1.ParentReference{}}
		p.obj.Status = gwapiv1.PolicyStatus{}
		if fs := support.Select(support.Findings("BackendTLSPolicy", p.obj), support.NotYet); len(fs) > 0 {
			p.notYet = support.Paths(fs)
		}
		t.validateBackendTLS(p)
		bt.list = append(bt.list, p)
		for _, ref := range p.obj.Spec.TargetRefs {
			k, ok := btlsKeyOf(p.obj.Namespace, ref)
			if !ok {
				continue
			}
			if holder := bt.byTarget[k]; holder != nil {
				if holder != p && p.conflictsWith == nil {
					p.conflictsWith = holder
				}
				bt.losers[k] = append(bt.losers[k], p)
				continue
			}
			bt.byTarget[k] = p
		}
	}
	t.btls = bt
}

func btlsKeyOf(ns string, ref gwapiv1.LocalPolicyTargetReferenceWithSectionName) (btlsKey, bool) {
	k := btlsKey{kind: string(ref.Kind), namespace: ns, name: string(ref.Name)}
	if ref.SectionName != nil {
		k.section = string(*ref.SectionName)
	}
	switch {
	case string(ref.Group) == "" && k.kind == "Service":
	case string(ref.Group) == egv1a1.GroupName && k.kind == egv1a1.KindBackend:
	default:
		return k, false
	}
	return k, true
}

// policyFor is the policy that applies to a backend: one naming its port
// (sectionName) wins over one naming the whole Service.
func (bt *backendTLSPolicies) policyFor(tg btlsTarget) (*btlsPolicy, btlsKey) {
	if bt == nil {
		return nil, btlsKey{}
	}
	k := btlsKey{kind: tg.kind, namespace: tg.namespace, name: tg.name}
	if tg.port != "" {
		ks := k
		ks.section = tg.port
		if p := bt.byTarget[ks]; p != nil {
			return p, ks
		}
	}
	return bt.byTarget[k], k
}

// backendTLSFor returns the TLS a BackendTLSPolicy asks for toward tg (nil
// when none targets it), or an error saying why the policy cannot be
// honoured. anc, when set, becomes an ancestor of the policy (and of the
// policies that conflict with it on this target).
func (t *translation) backendTLSFor(tg btlsTarget, anc *gwapiv1.ParentReference) (*ir.TLSUpstreamConfig, error) {
	p, pk := t.btls.policyFor(tg)
	if p == nil {
		return nil, nil
	}
	if anc != nil {
		k := parentRefKey(*anc)
		p.ancestors[k] = *anc
		for _, l := range t.btls.losers[pk] {
			l.ancestors[k] = *anc
		}
	}
	if p.tls == nil {
		return nil, fmt.Errorf("BackendTLSPolicy %s for %s is invalid: %s", key(p.obj.Namespace, p.obj.Name), tg, p.msg)
	}
	tls := *p.tls
	return &tls, nil
}

// serviceTarget is the BackendTLSPolicy target of a Service port.
func (t *translation) serviceTarget(ns, name string, port int32) btlsTarget {
	tg := btlsTarget{kind: "Service", namespace: ns, name: name}
	if svc := t.index.services[key(ns, name)]; svc != nil {
		for _, p := range svc.Spec.Ports {
			if p.Port == port {
				tg.port = p.Name
			}
		}
	}
	return tg
}

// settingTarget is the BackendTLSPolicy target of a route's destination
// setting, from the object it was resolved from.
func (t *translation) settingTarget(s *ir.DestinationSetting) (btlsTarget, bool) {
	m := s.Metadata
	if m == nil {
		return btlsTarget{}, false
	}
	switch m.Kind {
	case "Service":
		port, _ := strconv.Atoi(m.SectionName)
		return t.serviceTarget(m.Namespace, m.Name, int32(port)), true
	case egv1a1.KindBackend:
		return btlsTarget{kind: egv1a1.KindBackend, namespace: m.Namespace, name: m.Name}, true
	}
	return btlsTarget{}, false
}

// recordRouteBackendTLS makes every Gateway whose routes send (or mirror)
// to a targeted backend an ancestor of the policy, named as the route's
// parentRef names it (Envoy Gateway's ancestor). It runs after routes are
// attached; the TLS itself was set when the backends were resolved.
func (t *translation) recordRouteBackendTLS() {
	if len(t.btls.list) == 0 {
		return
	}
	routes := t.routeIndex()
	for _, gc := range t.gateways {
		for _, lc := range gc.listeners {
			if lc.ir == nil {
				continue
			}
			for _, r := range lc.ir.Routes {
				if r.Metadata == nil {
					continue
				}
				parents := routes.parents(r.Metadata.Kind, r.Metadata.Namespace, r.Metadata.Name, gc.gw)
				for _, d := range routeDestinations(r) {
					for _, s := range d.Settings {
						tg, ok := t.settingTarget(s)
						if !ok {
							continue
						}
						for i := range parents {
							_, _ = t.backendTLSFor(tg, &parents[i])
						}
					}
				}
			}
		}
	}
}

func routeDestinations(r *ir.HTTPRoute) []*ir.RouteDestination {
	var out []*ir.RouteDestination
	if r.Destination != nil {
		out = append(out, r.Destination)
	}
	for _, m := range r.Mirrors {
		if m.Destination != nil {
			out = append(out, m.Destination)
		}
	}
	return out
}

// finishBackendTLSPolicies writes one status per ancestor. A policy no
// route or external service uses gets its first target as ancestor, so it
// still says whether it is valid and whether its target exists.
func (t *translation) finishBackendTLSPolicies() {
	ctrl := gwapiv1.GatewayController(t.opts.ControllerName)
	for _, p := range t.btls.list {
		conds := p.conditions(t)
		refs := make([]gwapiv1.ParentReference, 0, len(p.ancestors))
		for _, k := range slices.Sorted(maps.Keys(p.ancestors)) {
			refs = append(refs, p.ancestors[k])
		}
		if len(refs) == 0 && len(p.obj.Spec.TargetRefs) > 0 {
			ref := p.obj.Spec.TargetRefs[0]
			refs = append(refs, gwapiv1.ParentReference{
				Group: ptr(ref.Group), Kind: ptr(ref.Kind), Namespace: ptr(gwapiv1.Namespace(p.obj.Namespace)),
				Name: ref.Name, SectionName: ref.SectionName,
			})
			if missing := t.missingTarget(p.obj); missing != "" {
				conds = []metav1.Condition{newCondition(string(gwapiv1.PolicyConditionAccepted), "False",
					string(gwapiv1.PolicyReasonTargetNotFound), missing, p.obj.Generation)}
			}
		}
		for _, ref := range refs {
			p.obj.Status.Ancestors = append(p.obj.Status.Ancestors, gwapiv1.PolicyAncestorStatus{
				AncestorRef: ref, ControllerName: ctrl, Conditions: conds,
			})
		}
		t.result.BackendTLSPolicies = append(t.result.BackendTLSPolicies, p.obj)
	}
	sort.SliceStable(t.result.BackendTLSPolicies, func(i, j int) bool {
		a, b := t.result.BackendTLSPolicies[i], t.result.BackendTLSPolicies[j]
		return key(a.Namespace, a.Name) < key(b.Namespace, b.Name)
	})
}

// conditions are the policy's ResolvedRefs and Accepted conditions.
func (p *btlsPolicy) conditions(t *translation) []metav1.Condition {
	gen := p.obj.Generation
	resolved := newCondition(string(gwapiv1.BackendTLSPolicyConditionResolvedRefs), "True",
		string(gwapiv1.BackendTLSPolicyReasonResolvedRefs), msgBTLSResolvedRefs, gen)
	if p.refReason != "" {
		resolved = newCondition(string(gwapiv1.BackendTLSPolicyConditionResolvedRefs), "False", p.refReason, p.msg, gen)
	}
	accepted := newCondition(string(gwapiv1.PolicyConditionAccepted), "True", string(gwapiv1.PolicyReasonAccepted), msgBTLSAccepted, gen)
	switch {
	case p.tls == nil:
		accepted = newCondition(string(gwapiv1.PolicyConditionAccepted), "False", p.reason, p.msg, gen)
	case p.conflictsWith != nil:
		accepted = newCondition(string(gwapiv1.PolicyConditionAccepted), "False", string(gwapiv1.PolicyReasonConflicted),
			fmt.Sprintf("Policy conflicts with BackendTLSPolicy %s.", key(p.conflictsWith.obj.Namespace, p.conflictsWith.obj.Name)), gen)
	case p.notYet != "":
		accepted = newCondition(string(gwapiv1.PolicyConditionAccepted), "False", ReasonUnsupportedField,
			fmt.Sprintf("Not supported by Portico yet: %s; TLS is used toward the targets as the rest of the policy says.", p.notYet), gen)
	}
	return []metav1.Condition{resolved, accepted}
}

// missingTarget says which target of a policy does not exist, or "".
func (t *translation) missingTarget(p *gwapiv1.BackendTLSPolicy) string {
	for _, ref := range p.Spec.TargetRefs {
		k, ok := btlsKeyOf(p.Namespace, ref)
		switch {
		case !ok:
			return fmt.Sprintf("Target %s/%s %s is not a Service or a Backend.", ref.Group, ref.Kind, ref.Name)
		case k.kind == "Service" && t.index.services[key(k.namespace, k.name)] == nil:
			return fmt.Sprintf("Service %s not found.", key(k.namespace, k.name))
		case k.kind == "Service" && k.section != "" && !hasPortNamed(t.index.services[key(k.namespace, k.name)], k.section):
			return fmt.Sprintf("Service %s has no port named %s.", key(k.namespace, k.name), k.section)
		case k.kind == egv1a1.KindBackend && !t.backendExists(k.namespace, k.name):
			return fmt.Sprintf("Backend %s not found.", key(k.namespace, k.name))
		}
	}
	return ""
}

func (t *translation) backendExists(ns, name string) bool {
	for _, b := range t.in.Backends {
		if b.Namespace == ns && b.Name == name {
			return true
		}
	}
	return false
}

func hasPortNamed(svc *corev1.Service, name string) bool {
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

// parentRefKey orders and de-duplicates ancestors, which may leave the
// namespace out (as a route's parentRef does).
func parentRefKey(r gwapiv1.ParentReference) string {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	k := fmt.Sprintf("%s/%s/%s/%s", str((*string)(r.Group)), str((*string)(r.Kind)), str((*string)(r.Namespace)), r.Name)
	if r.SectionName != nil {
		k += "/" + string(*r.SectionName)
	}
	if r.Port != nil {
		k += fmt.Sprintf(":%d", *r.Port)
	}
	return k
}
