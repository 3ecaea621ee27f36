package translate

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

func cond(typ, status, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg}
}

// The summary reads only conditions: a kind it has never heard of is
// counted like the others, and each state is told apart.
func TestSummaryStates(t *testing.T) {
	gwOK := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: "default"}}
	gwOK.Status.Conditions = []metav1.Condition{cond("Accepted", "True", "Accepted", "")}
	gwListener := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "tcp", Namespace: "default"}}
	gwListener.Status.Conditions = []metav1.Condition{cond("Accepted", "True", "Accepted", "")}
	gwListener.Status.Listeners = []gwapiv1.ListenerStatus{{Name: "tcp", Conditions: []metav1.Condition{
		cond("Accepted", "False", "UnsupportedProtocol", "Protocol TCP is not supported by Portico yet.")}}}
	route := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "default"}}
	route.Status.Parents = []gwapiv1.RouteParentStatus{{Conditions: []metav1.Condition{
		cond("Accepted", "False", "NoMatchingParent", "Gateway default/ghost does not exist.")}}}
	refs := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "refs", Namespace: "default"}}
	refs.Status.Parents = []gwapiv1.RouteParentStatus{{Conditions: []metav1.Condition{
		cond("Accepted", "True", "Accepted", ""), cond("ResolvedRefs", "False", "BackendNotFound", "Service default/x not found.")}}}
	bare := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "default"}}
	policy := &egv1a1.SecurityPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}
	policy.Status.Ancestors = append(policy.Status.Ancestors, gwapiv1.PolicyAncestorStatus{Conditions: []metav1.Condition{
		cond("Accepted", "False", "UnsupportedField", "spec.jwt is not supported yet")}})
	out := Output{}
	addList(out, "gateways", "Gateway", []*gwapiv1.Gateway{gwOK, gwListener})
	addList(out, "httpRoutes", "HTTPRoute", []*gwapiv1.HTTPRoute{route, refs, bare})
	addList(out, "securityPolicies", egv1a1.KindSecurityPolicy, []*egv1a1.SecurityPolicy{policy})
	s := summarize(out, nil, nil, []string{"fleet default/eg: hook failed"})
	want := map[string]map[State]int{
		"Gateway":        {Accepted: 1, Degraded: 1},
		"HTTPRoute":      {NotAccepted: 1, Degraded: 1, NoStatus: 1},
		"SecurityPolicy": {NotAccepted: 1},
	}
	for kind, states := range want {
		for st, n := range states {
			if s.Kinds[kind][st] != n {
				t.Errorf("%s %s = %d, want %d (%v)", kind, st, s.Kinds[kind][st], n, s.Kinds[kind])
			}
		}
	}
	var b strings.Builder
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"summary: 6 object(s) translated",
		"HTTPRoute default/r: Accepted=False NoMatchingParent: Gateway default/ghost does not exist.",
		"HTTPRoute default/refs: ResolvedRefs=False BackendNotFound: Service default/x not found.",
		"not supported:\n  Gateway default/tcp: Protocol TCP is not supported by Portico yet.\n  SecurityPolicy default/p: spec.jwt is not supported yet",
		"extension hooks that failed (failOpen: false):\n  fleet default/eg: hook failed",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("summary lacks %q:\n%s", line, b.String())
		}
	}
}
