package gatewayapi

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
)

// luaBase is a Gateway with two listeners and three routes: backend (two
// rules, the second named "named"), other and api (on listener "api").
const luaBase = `
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
  - {name: api, protocol: HTTP, port: 8080}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: backend, namespace: default, labels: {app: backend}}
spec:
  parentRefs: [{name: eg, sectionName: http}]
  hostnames: [www.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: backend, port: 3000}]
  - name: named
    matches: [{path: {type: PathPrefix, value: /named}}]
    backendRefs: [{name: backend, port: 3000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: other, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: http}]
  hostnames: [other.example.com]
  rules:
  - backendRefs: [{name: backend, port: 3000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: api}]
  rules:
  - backendRefs: [{name: backend, port: 3000}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  clusterIP: 10.0.0.1
  ports: [{name: http, port: 3000}]
`

const scriptFOO = `function envoy_on_response(response_handle)
  response_handle:headers():add("x-lua-custom", "FOO")
end
`

func luaPolicyYAML(name, targets, lua string) string {
	return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyExtensionPolicy\nmetadata: {name: " + name +
		", namespace: default}\nspec:\n" + targets + "  lua:\n" + lua
}

func inlineLua(code string) string {
	var b strings.Builder
	b.WriteString("  - type: Inline\n    inline: |\n")
	for _, l := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
		b.WriteString("      " + l + "\n")
	}
	return b.String()
}

func routeTarget(name string) string {
	return "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: " + name + "}]\n"
}

func luaTranslate(t *testing.T, docs string, opts Options) *Result {
	t.Helper()
	set, problems := resource.LoadBytes("test.yaml", []byte(luaBase+docs))
	if len(problems) > 0 {
		t.Fatalf("input problems: %v", problems)
	}
	if opts.ControllerName == "" {
		opts.EnableLua = true
	}
	return Translate(set, opts)
}

// irRoutes maps route name -> IR route of default/eg.
func irRoutes(r *Result) map[string]*ir.HTTPRoute {
	out := map[string]*ir.HTTPRoute{}
	for _, l := range r.XdsIR["default/eg"].HTTP {
		for _, rt := range l.Routes {
			out[rt.Name] = rt
		}
	}
	return out
}

const (
	backendRoute = "httproute/default/backend/rule/0/match/0/www_example_com"
	namedRoute   = "httproute/default/backend/rule/1/match/0/www_example_com"
	otherRoute   = "httproute/default/other/rule/0/match/0/other_example_com"
	apiRoute     = "httproute/default/api/rule/0/match/0/*"
)

func luaNames(rt *ir.HTTPRoute) string {
	if rt.EnvoyExtensions == nil {
		return ""
	}
	var n []string
	for _, l := range rt.EnvoyExtensions.Luas {
		n = append(n, l.Name)
	}
	return strings.Join(n, ",")
}

func accepted(t *testing.T, r *Result, name string) metav1.Condition {
	t.Helper()
	for _, p := range r.EnvoyExtensionPolicies {
		if p.Name == name {
			if len(p.Status.Ancestors) == 0 {
				t.Fatalf("%s: no ancestors", name)
			}
			return p.Status.Ancestors[0].Conditions[0]
		}
	}
	t.Fatalf("%s: no status", name)
	return metav1.Condition{}
}

func TestLuaInlineAndValueRef(t *testing.T) {
	r := luaTranslate(t, luaPolicyYAML("lua-inline-test", routeTarget("backend"), inlineLua(scriptFOO))+
		luaPolicyYAML("lua-valueref-test", routeTarget("other"), "  - type: ValueRef\n    valueRef: {name: cm-lua-valueref, kind: ConfigMap, group: v1}\n")+
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-lua-valueref, namespace: default}\ndata:\n  lua: |\n"+
		"    function envoy_on_response(response_handle)\n      response_handle:headers():add(\"x-lua-custom\", \"FOO\")\n    end\n", Options{})
	rs := irRoutes(r)
	if got := luaNames(rs[backendRoute]); got != "envoyextensionpolicy/default/lua-inline-test/lua/0" {
		t.Errorf("backend: %q", got)
	}
	if got := luaNames(rs[namedRoute]); got != "envoyextensionpolicy/default/lua-inline-test/lua/0" {
		t.Errorf("named rule: %q", got)
	}
	if got := luaNames(rs[otherRoute]); got != "envoyextensionpolicy/default/lua-valueref-test/lua/0" {
		t.Errorf("other: %q", got)
	}
	if got := luaNames(rs[apiRoute]); got != "" {
		t.Errorf("api: %q", got)
	}
	for _, n := range []string{"lua-inline-test", "lua-valueref-test"} {
		if c := accepted(t, r, n); c.Status != "True" || c.Message != "Policy has been accepted." {
			t.Errorf("%s: %+v", n, c)
		}
	}
}

// A broken script: Accepted=False with the Lua error and line; only the
// routes the policy targets answer 500.
func TestLuaBrokenScriptIsolated(t *testing.T) {
	broken := "function envoy_on_response(response_handle)\n  response_handle:headers():add(\"x\", \"y\"\nend\n"
	r := luaTranslate(t, luaPolicyYAML("lua-broken", routeTarget("backend"), inlineLua(broken))+
		luaPolicyYAML("lua-ok", routeTarget("other"), inlineLua(scriptFOO)), Options{})
	c := accepted(t, r, "lua-broken")
	want := "Lua: validation failed for lua body in policy with name envoyextensionpolicy/default/lua-broken/lua/0: "
	if c.Status != "False" || c.Reason != "Invalid" || !strings.HasPrefix(c.Message, want) ||
		!strings.Contains(c.Message, "line:3(column:3) near 'end': syntax error") {
		t.Fatalf("condition %+v", c)
	}
	rs := irRoutes(r)
	for _, n := range []string{backendRoute, namedRoute} {
		if rs[n].DirectResponse == nil || rs[n].DirectResponse.StatusCode != 500 || rs[n].EnvoyExtensions != nil {
			t.Errorf("%s should answer 500: %+v", n, rs[n])
		}
	}
	if rs[otherRoute].DirectResponse != nil || luaNames(rs[otherRoute]) == "" {
		t.Errorf("other route must keep working: %+v", rs[otherRoute])
	}
	if rs[apiRoute].DirectResponse != nil {
		t.Errorf("api route must keep working")
	}
}

// Route-level beats gateway-level; the gateway policy reports Overridden.
// sectionName narrows to a listener or a named rule.
func TestLuaPrecedence(t *testing.T) {
	gwTarget := "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: eg}]\n"
	listener := "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: eg, sectionName: api}]\n"
	rule := "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: backend, sectionName: named}]\n"
	r := luaTranslate(t, luaPolicyYAML("gw", gwTarget, inlineLua(scriptFOO))+
		luaPolicyYAML("listener", listener, inlineLua(scriptFOO))+
		luaPolicyYAML("route", routeTarget("backend"), inlineLua(scriptFOO))+
		luaPolicyYAML("rule", rule, inlineLua(scriptFOO)), Options{})
	rs := irRoutes(r)
	for route, want := range map[string]string{
		backendRoute: "envoyextensionpolicy/default/route/lua/0",
		namedRoute:   "envoyextensionpolicy/default/rule/lua/0",
		otherRoute:   "envoyextensionpolicy/default/gw/lua/0",
		apiRoute:     "envoyextensionpolicy/default/listener/lua/0",
	} {
		if got := luaNames(rs[route]); got != want {
			t.Errorf("%s: %q, want %q", route, got, want)
		}
	}
	for _, p := range r.EnvoyExtensionPolicies {
		if p.Name != "gw" {
			continue
		}
		conds := p.Status.Ancestors[0].Conditions
		if len(conds) != 2 || conds[1].Type != "Overridden" ||
			conds[1].Message != "This policy is being overridden by other envoyExtensionPolicies for these routes: [default/backend]" {
			t.Errorf("gw conditions %+v", conds)
		}
	}
}

// The older of two policies on one target wins; the other is Conflicted.
func TestLuaConflict(t *testing.T) {
	docs := luaPolicyYAML("a", routeTarget("backend"), inlineLua(scriptFOO)) +
		luaPolicyYAML("b", routeTarget("backend"), inlineLua(scriptFOO))
	r := luaTranslate(t, docs, Options{})
	if got := luaNames(irRoutes(r)[backendRoute]); got != "envoyextensionpolicy/default/a/lua/0" {
		t.Errorf("got %q", got)
	}
	if c := accepted(t, r, "b"); c.Status != "False" || c.Reason != "Conflicted" {
		t.Errorf("b: %+v", c)
	}
}

func TestLuaTargetSelectors(t *testing.T) {
	sel := "  targetSelectors: [{kind: HTTPRoute, matchLabels: {app: backend}}]\n"
	r := luaTranslate(t, luaPolicyYAML("sel", sel, inlineLua(scriptFOO)), Options{})
	rs := irRoutes(r)
	if luaNames(rs[backendRoute]) == "" || luaNames(rs[otherRoute]) != "" {
		t.Errorf("selector: backend=%q other=%q", luaNames(rs[backendRoute]), luaNames(rs[otherRoute]))
	}
}

func TestLuaDisabled(t *testing.T) {
	set, _ := resource.LoadBytes("t.yaml", []byte(luaBase+luaPolicyYAML("p", routeTarget("backend"), inlineLua(scriptFOO))))
	r := Translate(set, Options{})
	if c := accepted(t, r, "p"); c.Status != "False" || c.Reason != egv1a1.PolicyReasonDisabled {
		t.Errorf("%+v", c)
	}
	if rt := irRoutes(r)[backendRoute]; rt.EnvoyExtensions != nil || rt.DirectResponse != nil {
		t.Errorf("disabled policy touched the route: %+v", rt)
	}
}

func TestLuaConfigMapKeys(t *testing.T) {
	ref := "  - type: ValueRef\n    valueRef: {name: cm, kind: ConfigMap, group: v1}\n"
	for _, tc := range []struct {
		data, want string
	}{
		{"  not-lua: |\n    function envoy_on_response(h) end\n", ""},
		{"  a: x\n  b: y\n", `ConfigMap default/cm has no key "lua" and several other keys (a, b)`},
	} {
		r := luaTranslate(t, luaPolicyYAML("p", routeTarget("backend"), ref)+
			"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata:\n"+tc.data, Options{})
		c := accepted(t, r, "p")
		if tc.want == "" && c.Status != "True" {
			t.Errorf("single key: %+v", c)
		}
		if tc.want != "" && (c.Status != "False" || !strings.Contains(c.Message, tc.want)) {
			t.Errorf("several keys: %+v", c)
		}
	}
	r := luaTranslate(t, luaPolicyYAML("p", routeTarget("backend"), ref), Options{})
	if c := accepted(t, r, "p"); c.Status != "False" || !strings.Contains(c.Message, "ConfigMap default/cm not found") {
		t.Errorf("missing: %+v", c)
	}
}

// The validation mode comes from the GatewayClass's EnvoyProxy.
func TestLuaValidationMode(t *testing.T) {
	hostile := "function envoy_on_request(h)\n  os.execute('id')\nend\n"
	proxy := "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyProxy\nmetadata: {name: p, namespace: default}\nspec:\n  lua: {validationType: InsecureSyntax}\n"
	base := strings.Replace(luaBase, "spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}",
		"spec:\n  controllerName: gateway.envoyproxy.io/gatewayclass-controller\n  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: p, namespace: default}", 1)
	set, problems := resource.LoadBytes("t.yaml", []byte(base+proxy+luaPolicyYAML("p", routeTarget("backend"), inlineLua(hostile))))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	r := Translate(set, Options{EnableLua: true})
	if c := accepted(t, r, "p"); c.Status != "True" {
		t.Errorf("InsecureSyntax: %+v", c)
	}
	r = luaTranslate(t, luaPolicyYAML("p", routeTarget("backend"), inlineLua(hostile)), Options{})
	if c := accepted(t, r, "p"); c.Status != "False" || !strings.Contains(c.Message, "os.execute") {
		t.Errorf("Strict: %+v", c)
	}
}

// One policy, one route on two Gateways whose EnvoyProxies validate
// differently: one status entry per ancestor, and each Gateway's route
// follows its own verdict.
func TestLuaStatusPerAncestor(t *testing.T) {
	docs := `---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: loose}
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: loose, namespace: default}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: loose, namespace: default}
spec: {luaValidation: InsecureSyntax}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg2, namespace: default}
spec:
  gatewayClassName: loose
  listeners:
  - {name: http, protocol: HTTP, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shared, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: http}, {name: eg2}]
  hostnames: [shared.example.com]
  rules:
  - backendRefs: [{name: backend, port: 3000}]
` + luaPolicyYAML("p", routeTarget("shared"), inlineLua("function envoy_on_request(h)\n  os.execute('id')\nend\n"))
	r := luaTranslate(t, docs, Options{})
	var p *egv1a1.EnvoyExtensionPolicy
	for _, x := range r.EnvoyExtensionPolicies {
		if x.Name == "p" {
			p = x
		}
	}
	if p == nil || len(p.Status.Ancestors) != 2 {
		t.Fatalf("want 2 ancestors, got %+v", p)
	}
	got := map[string]string{}
	for _, a := range p.Status.Ancestors {
		got[string(a.AncestorRef.Name)] = string(a.Conditions[0].Status)
	}
	if got["eg"] != "False" || got["eg2"] != "True" {
		t.Fatalf("ancestors %v", got)
	}
	name := "httproute/default/shared/rule/0/match/0/shared_example_com"
	for key, want500 := range map[string]bool{"default/eg": true, "default/eg2": false} {
		for _, l := range r.XdsIR[key].HTTP {
			for _, rt := range l.Routes {
				if rt.Name != name {
					continue
				}
				if got := rt.DirectResponse != nil; got != want500 {
					t.Errorf("%s: 500=%v, want %v", key, got, want500)
				}
				if !want500 && luaNames(rt) == "" {
					t.Errorf("%s: no lua", key)
				}
			}
		}
	}
}
