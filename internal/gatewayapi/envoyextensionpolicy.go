package gatewayapi

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// EnvoyExtensionPolicy attachment, in Envoy Gateway's terms:
//
//   - a policy targets Gateways or HTTPRoutes of its namespace, by targetRef,
//     targetRefs or targetSelectors, optionally narrowed by sectionName (a
//     listener of a Gateway, a named rule of an HTTPRoute);
//   - each IR route takes the policy of the most specific level that
//     targets it: route rule, route, gateway listener, gateway. The policy
//     applies as a whole: a route policy without Lua still hides the
//     gateway policy's Lua (which gets Overridden);
//   - two policies on the very same target: the older one wins, the other
//     is Conflicted for it;
//   - status is per ancestor (the Gateways concerned), because the Lua
//     validation mode comes from each Gateway's EnvoyProxy.
//
// A policy whose filters cannot be built (an invalid script, a missing
// ConfigMap) still claims its routes, and those routes answer 500: failing
// open would silently drop what may be an authorization check. Every other
// route keeps serving.

// Condition messages (Envoy Gateway's where it has one).
const (
	msgEEPAccepted    = "Policy has been accepted."
	msgLuaDisabled    = "Lua is disabled in the EnvoyGateway configuration: set extensionApis.enableLua to true"
	reasonOverridden  = "Overridden"
	condOverridden    = "Overridden"
	reasonConflicted  = "Conflicted"
	kindGateway       = "Gateway"
	kindHTTPRoute     = "HTTPRoute"
	extensionPolicyIR = "envoyextensionpolicy"
)

// eepTarget is one resolved target of a policy.
type eepTarget struct {
	kind, namespace, name, section string
}

func (k eepTarget) String() string {
	s := k.kind + " " + k.namespace + "/" + k.name
	if k.section != "" {
		s += " section " + k.section
	}
	return s
}

// eepState is one policy during translation.
type eepState struct {
	policy  *egv1a1.EnvoyExtensionPolicy // status-carrying copy
	targets []eepTarget
	// conflicted are targets another, older policy holds.
	conflicted []eepTarget
	// disabled is set when the policy uses an API that is turned off.
	disabled string
	lua      *luaPolicy
	wasm     *wasmPolicy
	// overriddenBy lists routes (ns/name) where a more specific policy won.
	overriddenBy map[string]bool
	// ancestors seen while applying, keyed by ancestorKey.
	ancestors map[string]*ancestorInfo
}

type ancestorInfo struct {
	ref gwapiv1.ParentReference
	gc  *gatewayContext
	// errs are the failures of this policy on this ancestor's proxies.
	errs []string
}

// routeIndex finds translated HTTPRoutes (with their parent statuses) by
// namespace/name without a scan per IR route.
type routeIndex map[string]*gwapiv1.HTTPRoute

// processEnvoyExtensionPolicies attaches policies to the IR routes of every
// Gateway and computes their status. It runs after routes are attached.
func (t *translation) processEnvoyExtensionPolicies() {
	policies := append([]*egv1a1.EnvoyExtensionPolicy(nil), t.in.EnvoyExtensionPolicies...)
	sort.SliceStable(policies, func(i, j int) bool { return olderFirst(&policies[i].ObjectMeta, &policies[j].ObjectMeta) })
	claims := map[eepTarget]*eepState{}
	routes := routeIndex{}
	for _, hr := range t.result.HTTPRoutes {
		routes[key(hr.Namespace, hr.Name)] = hr
	}
	var states []*eepState
	for _, in := range policies {
		p := in.DeepCopy()
		p.Status = gwapiv1a2.PolicyStatus{}
		st := &eepState{policy: p, overriddenBy: map[string]bool{}, ancestors: map[string]*ancestorInfo{}}
		states = append(states, st)
		if len(p.Spec.Lua) > 0 && !t.opts.EnableLua {
			st.disabled = msgLuaDisabled
		}
		st.lua = t.buildLuaPolicy(p)
		if st.disabled == "" {
			st.wasm = t.buildWasmPolicy(p)
		}
		for _, tg := range t.policyTargets(p) {
			if st.disabled != "" {
				st.targets = append(st.targets, tg)
				continue
			}
			if claims[tg] != nil {
				st.conflicted = append(st.conflicted, tg)
				continue
			}
			claims[tg] = st
			st.targets = append(st.targets, tg)
		}
	}
	for _, gc := range t.gateways {
		for _, lc := range gc.listeners {
			if lc.ir == nil {
				continue
			}
			for _, r := range lc.ir.Routes {
				t.applyExtensionPolicy(gc, lc, r, claims, routes)
			}
		}
	}
	for _, st := range states {
		t.finishEEPStatus(st, routes)
		t.result.EnvoyExtensionPolicies = append(t.result.EnvoyExtensionPolicies, st.policy)
	}
	sort.SliceStable(t.result.EnvoyExtensionPolicies, func(i, j int) bool {
		a, b := t.result.EnvoyExtensionPolicies[i], t.result.EnvoyExtensionPolicies[j]
		return key(a.Namespace, a.Name) < key(b.Namespace, b.Name)
	})
}

// policyTargets resolves targetRef, targetRefs and targetSelectors to the
// Gateways and HTTPRoutes of the policy's namespace. Unsupported kinds are
// left out (Envoy Gateway ignores them too).
func (t *translation) policyTargets(p *egv1a1.EnvoyExtensionPolicy) []eepTarget {
	var out []eepTarget
	seen := map[eepTarget]bool{}
	add := func(kind, name, section string) {
		tg := eepTarget{kind: kind, namespace: p.Namespace, name: name, section: section}
		if !seen[tg] {
			seen[tg] = true
			out = append(out, tg)
		}
	}
	refs := append([]gwapiv1a2.LocalPolicyTargetReferenceWithSectionName(nil), p.Spec.TargetRefs...)
	if p.Spec.TargetRef != nil {
		refs = append(refs, *p.Spec.TargetRef)
	}
	for _, r := range refs {
		if string(r.Group) != gwapiv1.GroupName || (r.Kind != kindGateway && r.Kind != kindHTTPRoute) {
			continue
		}
		section := ""
		if r.SectionName != nil {
			section = string(*r.SectionName)
		}
		add(string(r.Kind), string(r.Name), section)
	}
	for _, sel := range p.Spec.TargetSelectors {
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
				if g.Namespace == p.Namespace && s.Matches(labels.Set(g.Labels)) {
					add(kindGateway, g.Name, "")
				}
			}
		case kindHTTPRoute:
			for _, r := range t.in.HTTPRoutes {
				if r.Namespace == p.Namespace && s.Matches(labels.Set(r.Labels)) {
					add(kindHTTPRoute, r.Name, "")
				}
			}
		}
	}
	return out
}

// applyExtensionPolicy gives one IR route the policy of the most specific
// level that targets it.
func (t *translation) applyExtensionPolicy(gc *gatewayContext, lc *listenerContext, r *ir.HTTPRoute, claims map[eepTarget]*eepState, routes routeIndex) {
	if r.Metadata == nil || r.Metadata.Kind != kindHTTPRoute {
		return
	}
	m := r.Metadata
	gw := gc.gw
	levels := []eepTarget{
		{kindHTTPRoute, m.Namespace, m.Name, m.SectionName},
		{kindHTTPRoute, m.Namespace, m.Name, ""},
		{kindGateway, gw.Namespace, gw.Name, string(lc.spec.Name)},
		{kindGateway, gw.Namespace, gw.Name, ""},
	}
	var winner *eepState
	var winnerLevel int
	for i, lvl := range levels {
		if lvl.section == "" && i%2 == 0 {
			continue // a rule without a name cannot be targeted by section
		}
		if st := claims[lvl]; st != nil {
			winner, winnerLevel = st, i
			break
		}
	}
	if winner == nil {
		return
	}
	routeKey := key(m.Namespace, m.Name)
	// Gateway-level policies that a route-level one hides are Overridden.
	for i := winnerLevel + 1; i < len(levels); i++ {
		if st := claims[levels[i]]; st != nil && st != winner && winnerLevel < 2 && i >= 2 {
			st.overriddenBy[routeKey] = true
		}
	}
	anc := winner.ancestorFor(gc, lc, winnerLevel >= 2, levels[winnerLevel].section, routes.parents(m.Namespace, m.Name, gw))
	errs := t.applyLua(winner, gc, r)
	wasmFatal := applyWasm(winner, r)
	for _, e := range append(errs, winner.wasm.errs()...) {
		if !contains(anc.errs, e) {
			anc.errs = append(anc.errs, e)
		}
	}
	if len(errs) > 0 || wasmFatal {
		// The route cannot run the filters it was given: answer 500 rather
		// than forward without them.
		r.DirectResponse = &ir.DirectResponse{StatusCode: 500}
		r.EnvoyExtensions = nil
	}
}

// parents are the parentRefs of an HTTPRoute that name gw, as written in
// the route's status.
func (ix routeIndex) parents(ns, name string, gw *gwapiv1.Gateway) []gwapiv1.ParentReference {
	hr := ix[key(ns, name)]
	if hr == nil {
		return nil
	}
	var out []gwapiv1.ParentReference
	for _, ps := range hr.Status.Parents {
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
func (st *eepState) ancestorFor(gc *gatewayContext, lc *listenerContext, gatewayLevel bool, section string, parents []gwapiv1.ParentReference) *ancestorInfo {
	gw := gc.gw
	ref := gwapiv1.ParentReference{
		Group:     ptr(gwapiv1.Group(gwapiv1.GroupName)),
		Kind:      ptr(gwapiv1.Kind(kindGateway)),
		Namespace: ptr(gwapiv1.Namespace(gw.Namespace)),
		Name:      gwapiv1.ObjectName(gw.Name),
	}
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
	k := ancestorKey(ref)
	a := st.ancestors[k]
	if a == nil {
		a = &ancestorInfo{ref: ref, gc: gc}
		st.ancestors[k] = a
	}
	return a
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

// finishEEPStatus writes one PolicyAncestorStatus per ancestor, sorted.
func (t *translation) finishEEPStatus(st *eepState, routes routeIndex) {
	p := st.policy
	gen := p.Generation
	ctrl := gwapiv1.GatewayController(t.opts.ControllerName)
	// Ancestors of targets that matched no route (a disabled policy, a
	// target without routes, conflicts) still get a status, so users see
	// why nothing happened.
	for _, tg := range append(append([]eepTarget(nil), st.targets...), st.conflicted...) {
		if tg.kind != kindGateway {
			continue
		}
		if gc := t.gatewayContext(tg.namespace, tg.name); gc != nil {
			ref := gwapiv1.ParentReference{
				Group: ptr(gwapiv1.Group(gwapiv1.GroupName)), Kind: ptr(gwapiv1.Kind(kindGateway)),
				Namespace: ptr(gwapiv1.Namespace(tg.namespace)), Name: gwapiv1.ObjectName(tg.name),
			}
			if tg.section != "" {
				ref.SectionName = ptr(gwapiv1.SectionName(tg.section))
			}
			if st.ancestors[ancestorKey(ref)] == nil {
				st.ancestors[ancestorKey(ref)] = &ancestorInfo{ref: ref, gc: gc}
			}
		}
	}
	for _, tg := range append(append([]eepTarget(nil), st.targets...), st.conflicted...) {
		if tg.kind != kindHTTPRoute {
			continue
		}
		for _, gc := range t.gateways {
			for _, ref := range routes.parents(tg.namespace, tg.name, gc.gw) {
				r := ref
				r.Namespace = ptr(gwapiv1.Namespace(gc.gw.Namespace))
				r.Group = ptr(gwapiv1.Group(gwapiv1.GroupName))
				r.Kind = ptr(gwapiv1.Kind(kindGateway))
				if st.ancestors[ancestorKey(r)] == nil {
					st.ancestors[ancestorKey(r)] = &ancestorInfo{ref: r, gc: gc}
				}
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(st.ancestors)) {
		a := st.ancestors[k]
		var cond metav1.Condition
		switch {
		case st.disabled != "":
			cond = newCondition(string(gwapiv1.PolicyConditionAccepted), "False", egv1a1.PolicyReasonDisabled, st.disabled, gen)
		case len(a.errs) > 0:
			cond = newCondition(string(gwapiv1.PolicyConditionAccepted), "False", string(gwapiv1.PolicyReasonInvalid), strings.Join(a.errs, "; "), gen)
		case len(st.lua.errs(t, a.gc)) > 0:
			cond = newCondition(string(gwapiv1.PolicyConditionAccepted), "False", string(gwapiv1.PolicyReasonInvalid), strings.Join(st.lua.errs(t, a.gc), "; "), gen)
		case len(st.wasm.errs()) > 0:
			cond = newCondition(string(gwapiv1.PolicyConditionAccepted), "False", string(gwapiv1.PolicyReasonInvalid), strings.Join(st.wasm.errs(), "; "), gen)
		case len(st.conflicted) > 0 && len(st.targets) == 0:
			cond = newCondition(string(gwapiv1.PolicyConditionAccepted), "False", reasonConflicted, conflictMessage(st.conflicted), gen)
		default:
			cond = newCondition(string(gwapiv1.PolicyConditionAccepted), "True", string(gwapiv1.PolicyReasonAccepted), msgEEPAccepted, gen)
		}
		conds := []metav1.Condition{cond}
		if len(st.overriddenBy) > 0 && st.disabled == "" {
			conds = append(conds, newCondition(condOverridden, "True", reasonOverridden,
				fmt.Sprintf("This policy is being overridden by other envoyExtensionPolicies for these routes: [%s]",
					strings.Join(slices.Sorted(maps.Keys(st.overriddenBy)), " ")), gen))
		}
		p.Status.Ancestors = append(p.Status.Ancestors, gwapiv1.PolicyAncestorStatus{
			AncestorRef: a.ref, ControllerName: ctrl, Conditions: conds,
		})
	}
}

func conflictMessage(ts []eepTarget) string {
	var parts []string
	for _, tg := range ts {
		parts = append(parts, fmt.Sprintf("Unable to target %s, another EnvoyExtensionPolicy has already attached to it", tg))
	}
	return strings.Join(parts, "; ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
