package gatewayapi

import (
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/support"
)

// EnvoyExtensionPolicy attachment follows policyattach.go. A policy whose
// filters cannot be built (an invalid script, a missing ConfigMap, a Wasm or
// ext_proc entry Portico does not run yet without failOpen) still claims its
// routes, and those routes answer 500: failing open would silently drop
// what may be an authorization check. Every other route keeps serving.

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

// eepState is one policy during translation.
type eepState struct {
	policy *egv1a1.EnvoyExtensionPolicy // status-carrying copy
	att    *attachment
	// disabled is set when the policy uses an API that is turned off.
	disabled string
	lua      *luaPolicy
	extProc  *extProcPolicy
	wasm     *wasmPolicy
	// unsupported names the parts Portico does not run yet; failClosed is
	// set when one of them has no failOpen, so its routes answer 500.
	unsupported []string
	failClosed  bool
}

// processEnvoyExtensionPolicies attaches policies to the IR routes of every
// Gateway and computes their status. It runs after routes are attached.
func (t *translation) processEnvoyExtensionPolicies() {
	policies := append([]*egv1a1.EnvoyExtensionPolicy(nil), t.in.EnvoyExtensionPolicies...)
	sort.SliceStable(policies, func(i, j int) bool { return olderFirst(&policies[i].ObjectMeta, &policies[j].ObjectMeta) })
	claims := map[policyTarget]*attachment{}
	byAtt := map[*attachment]*eepState{}
	routes := t.routeIndex()
	var states []*eepState
	for _, in := range policies {
		p := in.DeepCopy()
		p.Status = gwapiv1a2.PolicyStatus{}
		st := &eepState{policy: p, att: newAttachment()}
		states = append(states, st)
		byAtt[st.att] = st
		if len(p.Spec.Lua) > 0 && !t.opts.EnableLua {
			st.disabled = msgLuaDisabled
		}
		st.lua = t.buildLuaPolicy(p)
		st.extProc = t.buildExtProcPolicy(p)
		if st.disabled == "" {
			st.wasm = t.buildWasmPolicy(p)
		}
		st.unsupported, st.failClosed = unsupportedExtensions(p)
		st.att.claim(t.policyTargets(p.Namespace, p.Spec.PolicyTargetReferences), claims, st.disabled == "")
	}
	for _, gc := range t.gateways {
		for _, lc := range gc.listeners {
			if lc.ir == nil {
				continue
			}
			for _, r := range lc.ir.Routes {
				if att, anc := t.winner(gc, lc, r, claims, routes); att != nil {
					t.applyExtensionPolicy(byAtt[att], anc, gc, r)
				}
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

// unsupportedExtensions names the parts of a policy the ledger marks not
// supported yet, and says whether its routes must fail closed: always for
// a FailClosed part, and for Wasm unless every entry has failOpen (Envoy
// Gateway's rule for entries that cannot be built); fields that only tune
// what otherwise applies (PolicyRejected) are named without failing.
func unsupportedExtensions(p *egv1a1.EnvoyExtensionPolicy) ([]string, bool) {
	var names []string
	failClosed := false
	for _, f := range support.Select(support.Findings(egv1a1.KindEnvoyExtensionPolicy, p), support.NotYet) {
		names = append(names, f.Path)
		switch {
		case f.Entry.Effect == support.PolicyRejected:
			// Named in the status; the rest of the policy applies.
		case f.Entry.Effect != support.FailClosedUnlessFailOpen:
			failClosed = true
		case strings.HasPrefix(f.Entry.Path, "spec.wasm"):
			for _, w := range p.Spec.Wasm {
				failClosed = failClosed || w.FailOpen == nil || !*w.FailOpen
			}
		default:
			failClosed = true
		}
	}
	return names, failClosed
}

// applyExtensionPolicy gives one IR route the filters of the policy that
// won it, or a 500 when they cannot be built.
func (t *translation) applyExtensionPolicy(st *eepState, anc *ancestorInfo, gc *gatewayContext, r *ir.HTTPRoute) {
	if st.failClosed {
		r.DirectResponse = &ir.DirectResponse{StatusCode: 500}
		r.EnvoyExtensions = nil
		return
	}
	if applyExtProc(st.extProc, r) {
		r.DirectResponse = &ir.DirectResponse{StatusCode: 500}
		r.EnvoyExtensions = nil
		return
	}
	errs := t.applyLua(st, gc, r)
	wasmFatal := applyWasm(st, r)
	for _, e := range append(errs, st.wasm.errs()...) {
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

// finishEEPStatus writes one PolicyAncestorStatus per ancestor, sorted.
func (t *translation) finishEEPStatus(st *eepState, routes routeIndex) {
	p := st.policy
	gen := p.Generation
	ctrl := gwapiv1.GatewayController(t.opts.ControllerName)
	t.addTargetAncestors(st.att, routes)
	accepted := func(status, reason, msg string) metav1.Condition {
		return newCondition(string(gwapiv1.PolicyConditionAccepted), status, reason, msg, gen)
	}
	for _, a := range st.att.sortedAncestors() {
		var cond metav1.Condition
		errs := append(append(append([]string(nil), a.errs...), st.lua.errs(t, a.gc)...), st.wasm.errs()...)
		if st.extProc != nil {
			errs = append(errs, st.extProc.errs...)
		}
		switch {
		case st.disabled != "":
			cond = accepted("False", egv1a1.PolicyReasonDisabled, st.disabled)
		case len(st.unsupported) > 0:
			cond = accepted("False", ReasonUnsupportedField, unsupportedMessage(egv1a1.KindEnvoyExtensionPolicy,
				st.unsupported, st.failClosed, errs))
		case len(errs) > 0:
			cond = accepted("False", string(gwapiv1.PolicyReasonInvalid), strings.Join(dedupe(errs), "; "))
		case len(st.att.conflicted) > 0 && len(st.att.targets) == 0:
			cond = accepted("False", reasonConflicted, conflictMessage(egv1a1.KindEnvoyExtensionPolicy, st.att.conflicted))
		default:
			cond = accepted("True", string(gwapiv1.PolicyReasonAccepted), msgEEPAccepted)
		}
		conds := []metav1.Condition{cond}
		if c := st.att.overriddenCondition("envoyExtensionPolicies", gen); c != nil && st.disabled == "" {
			conds = append(conds, *c)
		}
		p.Status.Ancestors = append(p.Status.Ancestors, gwapiv1.PolicyAncestorStatus{
			AncestorRef: a.ref, ControllerName: ctrl, Conditions: conds,
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
