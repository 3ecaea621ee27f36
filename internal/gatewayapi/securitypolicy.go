package gatewayapi

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/support"
)

// SecurityPolicy attaches like EnvoyExtensionPolicy (policyattach.go). Its
// parts are security controls, so a part Portico cannot enforce (see the
// ledger) or cannot build (a missing Secret) fails closed, as Envoy Gateway
// does for an invalid SecurityPolicy: the routes it applies to answer 500.

const (
	securityPolicyIR = "securitypolicy"
	htpasswdKey      = ".htpasswd"
)

// spState is one SecurityPolicy during translation.
type spState struct {
	policy      *egv1a1.SecurityPolicy // status-carrying copy
	att         *attachment
	unsupported []string
	errs        []string
	// openErrs are errors that leave the policy Accepted=False without
	// failing its routes closed: an extAuth that cannot be built with
	// failOpen set (Envoy Gateway's rule); the routes serve without it.
	openErrs []string
	security ir.SecurityFeatures
	// layer4 names the TCP, TLS and UDP listeners whose connections the
	// policy's authorization closes (layer4.go): not enforced there yet.
	layer4 []string
}

// failsClosed reports whether the policy's routes must answer 500.
func (st *spState) failsClosed() bool { return len(st.unsupported) > 0 || len(st.errs) > 0 }

// processSecurityPolicies attaches SecurityPolicies to the IR routes of
// every Gateway and computes their status. It runs after routes are attached.
func (t *translation) processSecurityPolicies() {
	policies := append([]*egv1a1.SecurityPolicy(nil), t.in.SecurityPolicies...)
	sort.SliceStable(policies, func(i, j int) bool { return olderFirst(&policies[i].ObjectMeta, &policies[j].ObjectMeta) })
	claims := map[policyTarget]*attachment{}
	byAtt := map[*attachment]*spState{}
	routes := t.routeIndex()
	var states []*spState
	for _, in := range policies {
		p := in.DeepCopy()
		p.Status = gwapiv1a2.PolicyStatus{}
		st := &spState{policy: p, att: newAttachment()}
		for _, f := range support.Select(support.Findings(egv1a1.KindSecurityPolicy, p), support.NotYet) {
			st.unsupported = append(st.unsupported, f.Path)
		}
		t.buildSecurityFeatures(st)
		st.att.claim(t.policyTargets(p.Namespace, p.Spec.PolicyTargetReferences), claims, true)
		states = append(states, st)
		byAtt[st.att] = st
	}
	for _, gc := range t.gateways {
		for _, lc := range gc.listeners {
			if lc.ir == nil {
				continue
			}
			for _, r := range lc.ir.Routes {
				att, _ := t.winner(gc, lc, r, claims, routes)
				if att == nil {
					continue
				}
				st := byAtt[att]
				if st.failsClosed() {
					r.DirectResponse = &ir.DirectResponse{StatusCode: 500}
					continue
				}
				if sec := st.security; sec != (ir.SecurityFeatures{}) {
					r.Security = &sec
				}
			}
		}
	}
	t.closeLayer4ForAuthorization(claims, byAtt, states)
	for _, st := range states {
		t.finishSecurityPolicyStatus(st, routes)
		t.result.SecurityPolicies = append(t.result.SecurityPolicies, st.policy)
	}
	sort.SliceStable(t.result.SecurityPolicies, func(i, j int) bool {
		a, b := t.result.SecurityPolicies[i], t.result.SecurityPolicies[j]
		return key(a.Namespace, a.Name) < key(b.Namespace, b.Name)
	})
}

func (t *translation) finishSecurityPolicyStatus(st *spState, routes routeIndex) {
	p := st.policy
	gen := p.Generation
	t.addTargetAncestors(st.att, routes)
	var cond metav1.Condition
	accepted := func(status, reason, msg string) metav1.Condition {
		return newCondition(string(gwapiv1.PolicyConditionAccepted), status, reason, msg, gen)
	}
	switch {
	case len(st.unsupported) > 0:
		cond = accepted("False", ReasonUnsupportedField, unsupportedMessage(egv1a1.KindSecurityPolicy, st.unsupported, true, st.errs))
	case len(st.errs) > 0 || len(st.openErrs) > 0:
		cond = accepted("False", string(gwapiv1.PolicyReasonInvalid), strings.Join(append(append([]string(nil), st.errs...), st.openErrs...), " "))
	case len(st.att.conflicted) > 0 && len(st.att.targets) == 0:
		cond = accepted("False", reasonConflicted, conflictMessage(egv1a1.KindSecurityPolicy, st.att.conflicted))
	case len(st.layer4) > 0:
		cond = accepted("False", ReasonUnsupportedField, layer4AuthorizationMessage(st.layer4))
	default:
		cond = accepted("True", string(gwapiv1.PolicyReasonAccepted), msgPolicyAccepted)
	}
	for _, a := range st.att.sortedAncestors() {
		conds := []metav1.Condition{cond}
		if c := st.att.overriddenCondition("securityPolicies", gen); c != nil {
			conds = append(conds, *c)
		}
		p.Status.Ancestors = append(p.Status.Ancestors, gwapiv1.PolicyAncestorStatus{
			AncestorRef: a.ref, ControllerName: gwapiv1.GatewayController(t.opts.ControllerName), Conditions: conds,
		})
	}
}

// buildSecurityFeatures builds each part of the policy; a part that
// fails is named in the status with Envoy Gateway's prefix.
func (t *translation) buildSecurityFeatures(st *spState) {
	p := st.policy
	if p.Spec.BasicAuth != nil {
		ba, err := t.basicAuth(p)
		if err != nil {
			st.errs = append(st.errs, fmt.Sprintf("BasicAuth: %v.", err))
		}
		st.security.BasicAuth = ba
	}
	if p.Spec.CORS != nil {
		c, err := cors(p.Spec.CORS)
		if err != nil {
			st.errs = append(st.errs, fmt.Sprintf("CORS: %v.", err))
		}
		st.security.CORS = c
	}
	if p.Spec.JWT != nil {
		j, err := t.jwt(p)
		if err != nil {
			st.errs = append(st.errs, fmt.Sprintf("JWT: %v.", err))
		}
		st.security.JWT = j
	}
	if p.Spec.APIKeyAuth != nil {
		a, err := t.apiKeyAuth(p)
		if err != nil {
			st.errs = append(st.errs, fmt.Sprintf("APIKeyAuth: %v.", err))
		}
		st.security.APIKeyAuth = a
	}
	if p.Spec.Authorization != nil {
		a, err := authorization(p)
		if err != nil {
			st.errs = append(st.errs, fmt.Sprintf("Authorization: %v.", err))
		}
		st.security.Authorization = a
	}
	if p.Spec.ExtAuth != nil {
		e, err := t.extAuth(p)
		switch {
		case err != nil && p.Spec.ExtAuth.FailOpen != nil && *p.Spec.ExtAuth.FailOpen:
			st.openErrs = append(st.openErrs, fmt.Sprintf("ExtAuth: %v.", err))
		case err != nil:
			st.errs = append(st.errs, fmt.Sprintf("ExtAuth: %v.", err))
		}
		st.security.ExtAuth = e
	}
}

// basicAuth resolves the htpasswd Secret of a basicAuth policy. Like Envoy
// (and Envoy Gateway), only unsalted {SHA} entries are accepted.
func (t *translation) basicAuth(p *egv1a1.SecurityPolicy) (*ir.BasicAuth, error) {
	ref := p.Spec.BasicAuth.Users
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Secret") {
		return nil, fmt.Errorf("users must reference a Secret")
	}
	ns := p.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	if !t.index.refAllowed(egv1a1.GroupName, egv1a1.KindSecurityPolicy, p.Namespace, "", "Secret", ns, string(ref.Name)) {
		return nil, fmt.Errorf("secret ref to %s/%s not permitted by any ReferenceGrant", ns, ref.Name)
	}
	secret := t.index.secrets[key(ns, string(ref.Name))]
	if secret == nil {
		return nil, fmt.Errorf("secret %s/%s does not exist", ns, ref.Name)
	}
	users, err := htpasswd(secret)
	if err != nil {
		return nil, err
	}
	return &ir.BasicAuth{
		Name:                  fmt.Sprintf("%s/%s/%s", securityPolicyIR, p.Namespace, p.Name),
		Users:                 users,
		ForwardUsernameHeader: p.Spec.BasicAuth.ForwardUsernameHeader,
	}, nil
}

// htpasswd returns the Secret's user lines with CRLF line ends normalised,
// after checking each is "user:{SHA}digest".
func htpasswd(s *corev1.Secret) ([]byte, error) {
	data, ok := s.Data[htpasswdKey]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s has no %s key", s.Namespace, s.Name, htpasswdKey)
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		_, hash, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(hash, "{SHA}") {
			return nil, fmt.Errorf("unsupported htpasswd format: please use {SHA}")
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("secret %s/%s holds no users", s.Namespace, s.Name)
	}
	return data, nil
}
