package gatewayapi

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-gw/portico/internal/resource"
)

// The rules' verdict on a route (GEP-1364, as Envoy Gateway applies it): a
// rule that cannot be served answers 500 and makes the route
// PartiallyInvalid while another rule serves; with none left the route is
// Accepted=False. A parent that refused the route keeps its own reason.
// The scene is luaBase's Gateway and Service, with route r added.
func TestRouteStatusWhenRulesFail(t *testing.T) {
	bad := "  - filters: [{type: ExternalAuth, externalAuth: {protocol: HTTP, backendRef: {name: auth, port: 9000}}}]\n" +
		"    backendRefs: [{name: backend, port: 3000}]\n"
	good := "  - matches: [{path: {type: PathPrefix, value: /ok}}]\n    backendRefs: [{name: backend, port: 3000}]\n"
	for _, tc := range []struct {
		name, parent, rules string
		want                []string // type=status/reason of each condition
	}{
		{"one of two rules fails", "{name: eg}", bad + good,
			[]string{"Accepted=True/Accepted", "ResolvedRefs=True/ResolvedRefs", "PartiallyInvalid=True/UnsupportedValue"}},
		{"the only rule fails", "{name: eg}", bad,
			[]string{"Accepted=False/UnsupportedValue", "ResolvedRefs=True/ResolvedRefs"}},
		{"every rule fails", "{name: eg}", bad + bad,
			[]string{"Accepted=False/UnsupportedValue", "ResolvedRefs=True/ResolvedRefs"}},
		{"no rule fails", "{name: eg}", good,
			[]string{"Accepted=True/Accepted", "ResolvedRefs=True/ResolvedRefs"}},
		{"the parent refuses first", "{name: eg, sectionName: nope}", bad,
			[]string{"Accepted=False/NoMatchingParent", "ResolvedRefs=True/ResolvedRefs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			route := "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: default}\n" +
				"spec:\n  parentRefs: [" + tc.parent + "]\n  hostnames: [r.example.com]\n  rules:\n" + tc.rules
			set, problems := resource.LoadBytes("scene.yaml", []byte(luaBase+route), resource.WithDefaultNamespace("default"))
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			var conds []metav1.Condition
			for _, route := range Translate(set, Options{}).HTTPRoutes {
				if route.Name == "r" && len(route.Status.Parents) == 1 {
					conds = route.Status.Parents[0].Conditions
				}
			}
			if got := conditionSummary(conds); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("conditions %v, want %v", got, tc.want)
			}
			for _, c := range conds {
				if c.Reason == "UnsupportedValue" && !strings.Contains(c.Message, "ExternalAuth") {
					t.Errorf("%s does not name the filter: %s", c.Type, c.Message)
				}
			}
		})
	}
}

func conditionSummary(conds []metav1.Condition) []string {
	var out []string
	for _, c := range conds {
		out = append(out, c.Type+"="+string(c.Status)+"/"+c.Reason)
	}
	return out
}
