package gatewayapi

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-gw/portico/internal/resource"
)

const ruleStatusScene = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, protocol: HTTP, port: 80}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec: {clusterIP: 10.0.0.1, ports: [{port: 3000}]}
`

// The rules' verdict on a route (GEP-1364, as Envoy Gateway applies it): a
// rule that cannot be served answers 500 and makes the route
// PartiallyInvalid while another rule serves; with none left the route is
// Accepted=False. A parent that refused the route keeps its own reason.
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
				"spec:\n  parentRefs: [" + tc.parent + "]\n  rules:\n" + tc.rules
			set, problems := resource.LoadBytes("scene.yaml", []byte(ruleStatusScene+route), resource.WithDefaultNamespace("default"))
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			r := Translate(set, Options{})
			if len(r.HTTPRoutes) != 1 || len(r.HTTPRoutes[0].Status.Parents) != 1 {
				t.Fatalf("route statuses: %+v", r.HTTPRoutes)
			}
			conds := r.HTTPRoutes[0].Status.Parents[0].Conditions
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
