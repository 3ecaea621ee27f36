package gatewayapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// Policy attachment shared by EnvoyExtensionPolicy and SecurityPolicy, in
// Envoy Gateway's terms:
//
//   - a policy targets Gateways or HTTPRoutes of its namespace, by targetRef,
//     targetRefs or targetSelectors, optionally narrowed by sectionName (a
//     listener of a Gateway, a named rule of an HTTPRoute);
//   - each IR route takes the policy of the most specific level that
//     targets it: route rule, route, gateway listener, gateway. The policy
//     applies as a whole: a route policy hides the gateway policy (which
//     gets Overridden);
//   - two policies of a kind on the very same target: the older one wins,
//     the other is Conflicted for it;
//   - status is per ancestor (the Gateways concerned).

// policyTarget is one resolved target of a policy.
type policyTarget struct {
	kind, namespace, name, section string
}

func (k policyTarget) String() string {
	s := k.kind + " " + k.namespace + "/" + k.name
	if k.section != "" {
		s += " section " + k.section
	}
	return s
}

// attachment is what a policy of any kind targets and where it applied.
type attachment struct {
	targets []policyTarget
	// conflicted are targets another, older policy holds.
	conflicted []policyTarget
	// overriddenBy lists routes (ns/name) where a more specific policy won.
	overriddenBy map[string]bool
	// ancestors seen while applying, keyed by ancestorKey.
	ancestors map[string]*ancestorInfo
}

func newAttachment() *attachment {
	return &attachment{overriddenBy: map[string]bool{}, ancestors: map[string]*ancestorInfo{}}
}

type ancestorInfo struct {
	ref gwapiv1.ParentReference
	gc  *gatewayContext
	// errs are the failures of this policy on this ancestor's proxies.
	errs []string
}

// claim records the policy's targets, leaving to older policies the targets
// they hold. Without exclusive, every target is recorded but none claimed
// (a disabled policy takes nothing from others).
func (a *attachment) claim(targets []policyTarget, claims map[policyTarget]*attachment, exclusive bool) {
	for _, tg := range targets {
		if !exclusive {
			a.targets = append(a.targets, tg)
			continue
		}
		if claims[tg] != nil {
			a.conflicted = append(a.conflicted, tg)
			continue
		}
		claims[tg] = a
		a.targets = append(a.targets, tg)
	}
}

// routeIndex finds the parent statuses of translated HTTPRoutes and
// GRPCRoutes by kind/namespace/name without a scan per IR route.
type routeIndex map[string][]gwapiv1.RouteParentStatus

func (t *translation) routeIndex() routeIndex {
	routes := routeIndex{}
	for _, hr := range t.result.HTTPRoutes {
		routes[kindHTTPRoute+"/"+key(hr.Namespace, hr.Name)] = hr.Status.Parents
	}
	for _, gr := range t.result.GRPCRoutes {
		routes[kindGRPCRoute+"/"+key(gr.Namespace, gr.Name)] = gr.Status.Parents
	}
	return routes
}

// isRouteKind reports whether policies can target the kind as a route.
func isRouteKind(kind string) bool { return kind == kindHTTPRoute || kind == kindGRPCRoute }

// policyTargets resolves targetRef, targetRefs and targetSelectors to the
// Gateways, HTTPRoutes and GRPCRoutes of the policy's namespace. Other kinds are left
// out (Envoy Gateway ignores them too).
func (t *translation) policyTargets(ns string, refs egv1a1.PolicyTargetReferences) []policyTarget {
	var out []policyTarget
	seen := map[policyTarget]bool{}
	add := func(kind, name, section string) {
		tg := policyTarget{kind: kind, namespace: ns, name: name, section: section}
		if !seen[tg] {
			seen[tg] = true
			out = append(out, tg)
		}
	}
	for _, r := range allTargetRefs(refs) {
		if string(r.Group) != gwapiv1.GroupName || (r.Kind != kindGateway && !isRouteKind(string(r.Kind))) {
			continue
		}
		section := ""
		if r.SectionName != nil {
			section = string(*r.SectionName)
		}
		add(string(r.Kind), string(r.Name), section)
	}
	for _, sel := range refs.TargetSelectors {
		if sel.Group != nil && string(*sel.Group) != gwapiv1.GroupName {
			continue
		}
		s, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: sel.MatchLabels, MatchExpressions: sel.MatchExpressions})
		if err != nil {
			continue
		}
		switch sel.Kind {
		case kindGateway:
			for _, g := range t.in.Gateways {
				if g.Namespace == ns && s.Matches(labels.Set(g.Labels)) {
					add(kindGateway, g.Name, "")
				}
			}
		case kindHTTPRoute:
			for _, r := range t.in.HTTPRoutes {
				if r.Namespace == ns && s.Matches(labels.Set(r.Labels)) {
					add(kindHTTPRoute, r.Name, "")
				}
			}
		case kindGRPCRoute:
			for _, r := range t.in.GRPCRoutes {
				if r.Namespace == ns && s.Matches(labels.Set(r.Labels)) {
					add(kindGRPCRoute, r.Name, "")
				}
			}
		}
	}
	return out
}

// allTargetRefs are a policy's targetRefs and its targetRef, in a new slice
// (appending to TargetRefs would write into the input object).
func allTargetRefs(refs egv1a1.PolicyTargetReferences) []gwapiv1a2.LocalPolicyTargetReferenceWithSectionName {
	all := append([]gwapiv1a2.LocalPolicyTargetReferenceWithSectionName(nil), refs.TargetRefs...)
	if refs.TargetRef != nil {
		all = append(all, *refs.TargetRef)
	}
	return all
}

// winner returns the policy of the most specific level that targets an IR
// route of gc's listener lc, with the status ancestor it applies under, and
// marks the less specific gateway policies it hides as Overridden. It
// returns nil when no policy targets the route.
func (t *translation) winner(gc *gatewayContext, lc *listenerContext, r *ir.HTTPRoute,
	claims map[policyTarget]*attachment, routes routeIndex) (*attachment, *ancestorInfo) {
	if r.Metadata == nil || !isRouteKind(r.Metadata.Kind) {
		return nil, nil
	}
	m := r.Metadata
	gw := gc.gw
	levels := []policyTarget{
		{m.Kind, m.Namespace, m.Name, m.SectionName},
		{m.Kind, m.Namespace, m.Name, ""},
		{kindGateway, gw.Namespace, gw.Name, string(lc.spec.Name)},
		{kindGateway, gw.Namespace, gw.Name, ""},
	}
	var win *attachment
	var winLevel int
	for i, lvl := range levels {
		if lvl.section == "" && i%2 == 0 {
			continue // a rule without a name cannot be targeted by section
		}
		if a := claims[lvl]; a != nil {
			win, winLevel = a, i
			break
		}
	}
	if win == nil {
		return nil, nil
	}
	routeKey := key(m.Namespace, m.Name)
	// Gateway-level policies that a route-level one hides are Overridden.
	for i := winLevel + 1; i < len(levels); i++ {
		if a := claims[levels[i]]; a != nil && a != win && winLevel < 2 && i >= 2 {
			a.overriddenBy[routeKey] = true
		}
	}
	return win, win.ancestorFor(gc, lc, winLevel >= 2, levels[winLevel].section, routes.parents(m.Kind, m.Namespace, m.Name, gw))
}

// parents are the parentRefs of a route that name gw, as written in the
// route's status.
func (ix routeIndex) parents(kind, ns, name string, gw *gwapiv1.Gateway) []gwapiv1.ParentReference {
	var out []gwapiv1.ParentReference
	for _, ps := range ix[kind+"/"+key(ns, name)] {
		ref := ps.ParentRef
		pns := ns
		if ref.Namespace != nil {
			pns = string(*ref.Namespace)
		}
		if pns == gw.Namespace && string(ref.Name) == gw.Name {
			out = append(out, ref)
		}
	}
	return out
}

// ancestorFor records and returns the status ancestor for an application:
// the Gateway (with the targeted listener) for a gateway policy, the
// route's parentRef for a route policy.
func (a *attachment) ancestorFor(gc *gatewayContext, lc *listenerContext, gatewayLevel bool, section string, parents []gwapiv1.ParentReference) *ancestorInfo {
	gw := gc.gw
	ref := gatewayAncestor(gw.Namespace, gw.Name, "")
	switch {
	case gatewayLevel && section != "":
		ref.SectionName = ptr(gwapiv1.SectionName(section))
	case !gatewayLevel:
		// The parentRef that attached the route to this listener.
		for _, p := range parents {
			if p.SectionName == nil || *p.SectionName == lc.spec.Name {
				ref.SectionName = p.SectionName
				ref.Port = p.Port
				break
			}
		}
	}
	return a.ancestor(ref, gc)
}

func (a *attachment) ancestor(ref gwapiv1.ParentReference, gc *gatewayContext) *ancestorInfo {
	k := ancestorKey(ref)
	info := a.ancestors[k]
	if info == nil {
		info = &ancestorInfo{ref: ref, gc: gc}
		a.ancestors[k] = info
	}
	return info
}

func gatewayAncestor(ns, name, section string) gwapiv1.ParentReference {
	ref := gwapiv1.ParentReference{
		Group: ptr(gwapiv1.Group(gwapiv1.GroupName)), Kind: ptr(gwapiv1.Kind(kindGateway)),
		Namespace: ptr(gwapiv1.Namespace(ns)), Name: gwapiv1.ObjectName(name),
	}
	if section != "" {
		ref.SectionName = ptr(gwapiv1.SectionName(section))
	}
	return ref
}

func ancestorKey(r gwapiv1.ParentReference) string {
	s := fmt.Sprintf("%s/%s", *r.Namespace, r.Name)
	if r.SectionName != nil {
		s += "/" + string(*r.SectionName)
	}
	if r.Port != nil {
		s += fmt.Sprintf(":%d", *r.Port)
	}
	return s
}

// addTargetAncestors gives an ancestor to every target, including those that
// matched no route (a disabled policy, a target without routes, conflicts),
// so users see why nothing happened.
func (t *translation) addTargetAncestors(a *attachment, routes routeIndex) {
	all := append(append([]policyTarget(nil), a.targets...), a.conflicted...)
	for _, tg := range all {
		if tg.kind != kindGateway {
			continue
		}
		if gc := t.gatewayContext(tg.namespace, tg.name); gc != nil {
			a.ancestor(gatewayAncestor(tg.namespace, tg.name, tg.section), gc)
		}
	}
	for _, tg := range all {
		if !isRouteKind(tg.kind) {
			continue
		}
		for _, gc := range t.gateways {
			for _, ref := range routes.parents(tg.kind, tg.namespace, tg.name, gc.gw) {
				r := ref
				r.Namespace = ptr(gwapiv1.Namespace(gc.gw.Namespace))
				r.Group = ptr(gwapiv1.Group(gwapiv1.GroupName))
				r.Kind = ptr(gwapiv1.Kind(kindGateway))
				a.ancestor(r, gc)
			}
		}
	}
}

// sortedAncestors returns the ancestors in key order.
func (a *attachment) sortedAncestors() []*ancestorInfo {
	out := make([]*ancestorInfo, 0, len(a.ancestors))
	for _, k := range slices.Sorted(maps.Keys(a.ancestors)) {
		out = append(out, a.ancestors[k])
	}
	return out
}

// overriddenCondition is Envoy Gateway's Overridden condition, or nil.
func (a *attachment) overriddenCondition(plural string, gen int64) *metav1.Condition {
	if len(a.overriddenBy) == 0 {
		return nil
	}
	c := newCondition(condOverridden, "True", reasonOverridden,
		fmt.Sprintf("This policy is being overridden by other %s for these routes: [%s]",
			plural, strings.Join(slices.Sorted(maps.Keys(a.overriddenBy)), " ")), gen)
	return &c
}

func conflictMessage(kind string, ts []policyTarget) string {
	var parts []string
	for _, tg := range ts {
		parts = append(parts, fmt.Sprintf("Unable to target %s, another %s has already attached to it", tg, kind))
	}
	return strings.Join(parts, "; ")
}
