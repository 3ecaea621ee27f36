package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

func luaConfig() *egv1a1.EnvoyGateway {
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableLua: true}
	return cfg
}

func readExample(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", "..", "examples"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// header returns one response header of GET host/path through the proxy,
// with the status.
func (e *env) header(host, path, name string) (int, string) {
	resp, err := e.do(host, path)
	if err != nil {
		return 0, ""
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(name)
}

// TestLuaGuideExamples runs the Lua Extensions guide's two policies
// (examples/lua/policies) through the runner and the built-in proxy:
// responses of the route carry x-lua-custom: FOO, the policy is Accepted,
// and for the ConfigMap variant an edit of the ConfigMap reaches the proxy.
func TestLuaGuideExamples(t *testing.T) {
	for _, name := range []string{"lua-inline.yaml", "lua-valueref.yaml"} {
		t.Run(name, func(t *testing.T) {
			bp := backend(t, "one")
			gw := freePort(t)
			e := startWith(t, luaConfig(), map[string]string{
				"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
				"route.yaml":   routeYAML("backend", bp),
				name:           readExample(t, "lua", "policies", name),
			}, gw)
			e.eventually("x-lua-custom: FOO", func() bool {
				code, v := e.header("www.example.com", "/", "x-lua-custom")
				return code == http.StatusOK && v == "FOO"
			})
			_, st := e.admin("/status")
			if !strings.Contains(string(st), "Policy has been accepted.") {
				t.Fatalf("policy not Accepted in /status:\n%s", st)
			}
			if name != "lua-valueref.yaml" {
				return
			}
			edited := strings.Replace(readExample(t, "lua", "policies", name), `"FOO"`, `"BAR"`, 1)
			writeFile(t, filepath.Join(e.dir, name), edited)
			e.eventually("x-lua-custom: BAR after the ConfigMap edit", func() bool {
				code, v := e.header("www.example.com", "/", "x-lua-custom")
				return code == http.StatusOK && v == "BAR"
			})
		})
	}
}

func namedRouteYAML(name, host, service string, port int) string {
	return strings.NewReplacer("name: backend\n  namespace", "name: "+name+"\n  namespace",
		`"www.example.com"`, `"`+host+`"`).Replace(routeYAML(service, port))
}

func luaPolicy(name, kind, target, code string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata:
  name: %s
  namespace: default
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: %s
      name: %s
  lua:
    - type: Inline
      inline: |
`, name, kind, target)
	for _, l := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
		b.WriteString("        " + l + "\n")
	}
	return b.String()
}

func levelScript(level string) string {
	return "function envoy_on_response(response_handle)\n  response_handle:headers():add(\"x-lua-level\", \"" + level + "\")\nend\n"
}

// TestLuaPrecedenceAndBrokenScript: a route policy beats the Gateway's; a
// route without one gets the Gateway's; a broken script makes only its own
// route answer 500, with the Lua error in the policy's status; a request
// script can answer by itself and see the request.
func TestLuaPrecedenceAndBrokenScript(t *testing.T) {
	bp := backend(t, "one")
	gw := freePort(t)
	broken := "function envoy_on_response(response_handle)\n  response_handle:headers():add(\"x\", \"y\"\nend\n"
	respond := `function envoy_on_request(request_handle)
  if request_handle:headers():get("x-deny") ~= nil then
    request_handle:respond({[":status"] = "403"}, "denied by lua")
  end
end
`
	e := startWith(t, luaConfig(), map[string]string{
		"gateway.yaml":  gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":    routeYAML("backend", bp),
		"other.yaml":    namedRouteYAML("other", "other.example.com", "backend", bp),
		"broken.yaml":   namedRouteYAML("broken", "broken.example.com", "backend", bp),
		"deny.yaml":     namedRouteYAML("deny", "deny.example.com", "backend", bp),
		"p-gw.yaml":     luaPolicy("gateway-level", "Gateway", "eg", levelScript("gateway")),
		"p-route.yaml":  luaPolicy("route-level", "HTTPRoute", "backend", levelScript("route")),
		"p-broken.yaml": luaPolicy("lua-broken", "HTTPRoute", "broken", broken),
		"p-deny.yaml":   luaPolicy("deny", "HTTPRoute", "deny", respond),
	}, gw)
	e.eventually("route-level Lua on www.example.com", func() bool {
		code, v := e.header("www.example.com", "/", "x-lua-level")
		return code == http.StatusOK && v == "route"
	})
	if code, v := e.header("other.example.com", "/", "x-lua-level"); code != http.StatusOK || v != "gateway" {
		t.Fatalf("other.example.com: %d x-lua-level=%q, want 200 gateway", code, v)
	}
	if code, _ := e.header("broken.example.com", "/", "x-lua-level"); code != http.StatusInternalServerError {
		t.Fatalf("broken.example.com: %d, want 500", code)
	}
	if code, body, _ := e.raw("deny.example.com", "/"); code != http.StatusOK || !strings.Contains(body, `"backend":"one"`) {
		t.Fatalf("deny.example.com without x-deny: %d %q", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", gw), nil)
	req.Host = "deny.example.com"
	req.Header.Set("x-deny", "1")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("deny.example.com with x-deny: %d, want 403", resp.StatusCode)
	}
	_, st := e.admin("/status")
	for _, want := range []string{
		"Lua: validation failed for lua body in policy with name envoyextensionpolicy/default/lua-broken/lua/0:",
		"line:3(column:3) near 'end': syntax error",
		"This policy is being overridden by other envoyExtensionPolicies for these routes: [default/backend default/broken default/deny]",
	} {
		if !strings.Contains(string(st), want) {
			t.Errorf("/status lacks %q:\n%s", want, st)
		}
	}
}

// egLuaManifest is Envoy Gateway's e2e manifest for Lua (test/e2e/testdata/
// lua-http.yaml at commit d32f282, Apache-2.0; ../shared corpus), verbatim
// but for the Gateway and Service the conformance suite provides, which are
// supplied by egLuaInfra.
const egLuaManifest = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: example-route-1-with-lua
  namespace: gateway-conformance-infra
spec:
  parentRefs:
    - name: same-namespace
  hostnames: ["www.example.com"]
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /route1
      backendRefs:
        - name: infra-backend-v1
          port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: example-route-2-with-lua
  namespace: gateway-conformance-infra
spec:
  parentRefs:
    - name: same-namespace
  hostnames: ["www.example.com"]
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /route2
      backendRefs:
        - name: infra-backend-v1
          port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: example-route-3-without-lua
  namespace: gateway-conformance-infra
spec:
  parentRefs:
    - name: same-namespace
  hostnames: ["www.example.com"]
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /route3
      backendRefs:
        - name: infra-backend-v1
          port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: example-route-4-with-lua-filter-context
  namespace: gateway-conformance-infra
spec:
  parentRefs:
    - name: same-namespace
  hostnames: ["www.example.com"]
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /route4
      backendRefs:
        - name: infra-backend-v1
          port: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-example-lua
  namespace: gateway-conformance-infra
data:  # not-lua key is used to test that the it fallbacks to first key
  not-lua: |
    function envoy_on_response(response_handle)
      response_handle:headers():add("X-Custom-Lua-Header", "lua_value_1")
    end
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-example-lua-filter-context
  namespace: gateway-conformance-infra
data:
  lua: |
    function envoy_on_response(response_handle)
      local ctx = response_handle:filterContext()
      if ctx ~= nil then
        local custom_value = ctx:get("custom_value")
        if custom_value ~= nil then
          response_handle:headers():add("X-Lua-Filter-Context", custom_value)
        end
      end
    end
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata:
  name: example-lua-1
  namespace: gateway-conformance-infra
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: example-route-1-with-lua
  lua:
    - type: ValueRef
      valueRef:
        name: cm-example-lua
        kind: ConfigMap
        group: v1
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata:
  name: example-lua-2
  namespace: gateway-conformance-infra
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: example-route-2-with-lua
  lua:
    - type: Inline
      inline: |
        function envoy_on_response(response_handle)
          response_handle:headers():add("X-Custom-Lua-Header", "lua_value_2")
          response_handle:headers():add("X-Custom-Lua-Another-Header", "lua_another_value")
        end
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata:
  name: example-lua-3-filter-context
  namespace: gateway-conformance-infra
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: example-route-4-with-lua-filter-context
  lua:
    - type: ValueRef
      valueRef:
        name: cm-example-lua-filter-context
        kind: ConfigMap
        group: v1
      filterContext:
        custom_value: hello_from_filter_context
`

// egLuaInfra is the conformance suite's Gateway and Service. The Service
// keeps the manifest's port 8080; its EndpointSlice points at the test
// backend's real port.
func egLuaInfra(gwPort, backendPort int) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: same-namespace
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: eg
  listeners:
    - name: http
      protocol: HTTP
      port: %d
---
apiVersion: v1
kind: Service
metadata:
  name: infra-backend-v1
  namespace: gateway-conformance-infra
spec:
  clusterIP: 127.0.0.1
  ports:
    - name: http
      port: 8080
      targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: infra-backend-v1
  namespace: gateway-conformance-infra
  labels:
    kubernetes.io/service-name: infra-backend-v1
addressType: IPv4
ports:
  - name: http
    port: %d
endpoints:
  - addresses: ["127.0.0.1"]
`, gwPort, backendPort)
}

// TestLuaEnvoyGatewayConformanceManifest runs Envoy Gateway's own Lua e2e
// manifest and checks what its test checks: the headers of each route.
func TestLuaEnvoyGatewayConformanceManifest(t *testing.T) {
	bp := backend(t, "infra-backend-v1")
	gw := freePort(t)
	infra := egLuaInfra(gw, bp)
	e := startWith(t, luaConfig(), map[string]string{"infra.yaml": infra, "lua-http.yaml": egLuaManifest}, gw)
	e.eventually("/route3 answers", func() bool {
		code, _ := e.header("www.example.com", "/route3", "x")
		return code == http.StatusOK
	})
	for path, want := range map[string]map[string]string{
		"/route1": {"X-Custom-Lua-Header": "lua_value_1"},
		"/route2": {"X-Custom-Lua-Header": "lua_value_2", "X-Custom-Lua-Another-Header": "lua_another_value"},
		"/route3": {"X-Custom-Lua-Header": ""},
		"/route4": {"X-Lua-Filter-Context": "hello_from_filter_context"},
	} {
		resp := e.response("www.example.com", path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
		for h, v := range want {
			if got := resp.Header.Get(h); got != v {
				t.Errorf("%s: %s = %q, want %q", path, h, got, v)
			}
		}
	}
}
