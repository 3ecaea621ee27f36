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
