package gatewayapi

import (
	"strings"
	"testing"
)

func eepYAML(name, targets, body string) string {
	return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyExtensionPolicy\nmetadata: {name: " + name +
		", namespace: default}\nspec:\n" + targets + body
}

// Wasm ConfigMap code and dynamic modules are not run yet: the policy is
// Accepted=False naming the field, and its routes answer 500 unless every
// entry has failOpen (Envoy Gateway's rule for entries that cannot be
// built), in which case the Lua of the same policy still applies. Other
// routes are untouched.
func TestExtensionPolicyUnsupportedParts(t *testing.T) {
	cases := []struct {
		name, body string
		want500    bool
		field      string
	}{
		{"wasm-configmap", "  wasm:\n  - code: {type: ConfigMap, configMap: {name: plugin}}\n", true, "spec.wasm[0].code.configMap"},
		{"wasm-configmap-failopen", "  wasm:\n  - failOpen: true\n    code: {type: ConfigMap, configMap: {name: plugin}}\n  lua:\n" + inlineLua(scriptFOO), false, "spec.wasm[0].code.configMap"},
		// backendSettings only tunes the processor's cluster: named, and
		// the processor still runs.
		{"extproc-backend-settings", "  extProc:\n  - backendRefs: [{name: backend, port: 3000}]\n    backendSettings: {retry: {numRetries: 3}}\n", false, "spec.extProc[0].backendSettings"},
		{"dynamic-module", "  dynamicModule:\n  - {name: m, failOpen: true}\n", true, "spec.dynamicModule"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := luaTranslate(t, eepYAML("p", routeTarget("backend"), tc.body), Options{})
			c := accepted(t, r, "p")
			if c.Status != "False" || c.Reason != ReasonUnsupportedField || !strings.Contains(c.Message, tc.field+" is not supported by Portico yet") {
				t.Fatalf("condition %+v", c)
			}
			rs := irRoutes(r)
			got500 := rs[backendRoute].DirectResponse != nil && rs[backendRoute].DirectResponse.StatusCode == 500
			if got500 != tc.want500 {
				t.Fatalf("backend route answers 500: %v, want %v (%+v)", got500, tc.want500, rs[backendRoute])
			}
			if !tc.want500 && strings.Contains(tc.body, "lua:") && luaNames(rs[backendRoute]) == "" {
				t.Errorf("failOpen: the policy's Lua must still apply")
			}
			if rs[otherRoute].DirectResponse != nil {
				t.Errorf("a route the policy does not target must keep serving")
			}
		})
	}
}
