package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// TestPatchPolicyGuideExamples runs the two policies of Envoy Gateway's
// EnvoyPatchPolicy guide (examples/patch-policy/policies) through the
// runner and the built-in proxy: a 404 becomes a 406 with the custom body,
// and responses carry x-envoy-attempt-count.
func TestPatchPolicyGuideExamples(t *testing.T) {
	for _, target := range []string{"Gateway", "GatewayClass"} {
		t.Run(target, func(t *testing.T) {
			bp := backend(t, "one")
			gw := freePort(t)
			files := map[string]string{
				"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
				"route.yaml":   routeYAML("backend", bp),
			}
			for _, name := range []string{"custom-response.yaml", "include-attempts.yaml"} {
				data, err := os.ReadFile(filepath.Join("..", "..", "examples", "patch-policy", "policies", name))
				if err != nil {
					t.Fatal(err)
				}
				policy := string(data)
				if target == "GatewayClass" {
					policy = strings.Replace(policy, "kind: Gateway\n", "kind: GatewayClass\n", 1)
				}
				files[name] = policy
			}
			if target == "GatewayClass" {
				// The guide's merged-gateways variant: the class's
				// EnvoyProxy merges gateways, and policies target the class.
				files["gateway.yaml"] = strings.Replace(files["gateway.yaml"],
					"  controllerName: gateway.envoyproxy.io/gatewayclass-controller\n",
					"  controllerName: gateway.envoyproxy.io/gatewayclass-controller\n  parametersRef:\n    group: gateway.envoyproxy.io\n    kind: EnvoyProxy\n    name: merged\n    namespace: default\n", 1)
				files["envoyproxy.yaml"] = "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyProxy\nmetadata:\n  name: merged\n  namespace: default\nspec:\n  mergeGateways: true\n"
			}
			cfg := &egv1a1.EnvoyGateway{}
			cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableEnvoyPatchPolicy: true}
			e := startWith(t, cfg, files, gw)

			// Unknown path on a host no route serves: Envoy's 404 (NR)
			// rewritten by the local_reply_config mapper.
			var code int
			var body string
			e.eventually("the 404 -> 406 mapper", func() bool {
				code, body, _ = e.raw("nothing.example.org", "/")
				return code == http.StatusNotAcceptable
			})
			if body != "could not find what you are looking for" {
				t.Fatalf("406 body = %q", body)
			}
			resp := e.response("www.example.com", "/")
			if got := resp.Header.Get("x-envoy-attempt-count"); got != "1" {
				t.Fatalf("x-envoy-attempt-count = %q, want 1 (headers %v)", got, resp.Header)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			_, st := e.admin("/status")
			if n := strings.Count(string(st), "Patches have been successfully applied."); n != 2 {
				t.Fatalf("want both policies Programmed, found %d in /status:\n%s", n, st)
			}
		})
	}
}

// raw sends GET path with the given Host and returns status and body.
func (e *env) raw(host, path string) (int, string, error) {
	resp, err := e.do(host, path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// response is raw's response with the body drained, for its headers.
func (e *env) response(host, path string) *http.Response {
	e.t.Helper()
	resp, err := e.do(host, path)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (e *env) do(host, path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", e.gwPort, path), nil)
	if err != nil {
		return nil, err
	}
	req.Host = host
	return e.client.Do(req)
}

// badListenerPatch adds a filter the built-in proxy does not know to the
// listener, which the proxy therefore rejects (NACK).
const badListenerPatch = `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata:
  name: bad-listener
  namespace: default
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: eg}
  type: JSONPatch
  jsonPatches:
    - type: "type.googleapis.com/envoy.config.listener.v3.Listener"
      name: default/eg/http
      operation:
        op: add
        path: "/default_filter_chain/filters/0/typed_config/http_filters/0"
        value:
          name: envoy.filters.http.mystery
          typed_config:
            "@type": type.googleapis.com/google.protobuf.Struct
            value: {}
`

// A NACK is laid at the door of the policy that changed the rejected
// resource: the bad listener patch turns Programmed=False, the guide's
// route patch applied beside it stays Programmed, and the last good
// configuration keeps serving.
func TestNACKBlamesOnlyThePolicyThatCausedIt(t *testing.T) {
	bp := backend(t, "one")
	gw := freePort(t)
	attempts, err := os.ReadFile(filepath.Join("..", "..", "examples", "patch-policy", "policies", "include-attempts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableEnvoyPatchPolicy: true}
	e := startWith(t, cfg, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}), "route.yaml": routeYAML("backend", bp),
		"include-attempts.yaml": string(attempts),
	}, gw)
	e.eventually("the route patch is served", func() bool {
		return e.response("www.example.com", "/").Header.Get("x-envoy-attempt-count") == "1"
	})
	writeFile(t, filepath.Join(e.dir, "bad.yaml"), badListenerPatch)
	e.eventually("the bad policy Programmed=False", func() bool {
		return e.patchProgrammed("bad-listener")["status"] == "False"
	})
	if c := e.patchProgrammed("include-attempts"); c["status"] != "True" {
		t.Fatalf("the unrelated policy was blamed for the NACK: %v", c)
	}
	if c := e.patchProgrammed("bad-listener"); !strings.Contains(fmt.Sprint(c["message"]), "mystery") {
		t.Errorf("the bad policy's condition lacks the proxy's reason: %v", c)
	}
	if got := e.response("www.example.com", "/").Header.Get("x-envoy-attempt-count"); got != "1" {
		t.Fatalf("the last good configuration must keep serving: x-envoy-attempt-count %q", got)
	}
}

// patchProgrammed is the Programmed condition of an EnvoyPatchPolicy in
// /status.
func (e *env) patchProgrammed(name string) map[string]any {
	e.t.Helper()
	for _, o := range e.statusList().Items {
		if o.Kind != egv1a1.KindEnvoyPatchPolicy || o.Metadata["name"] != name {
			continue
		}
		ancestors, _ := o.Status["ancestors"].([]any)
		for _, a := range ancestors {
			for _, c := range a.(map[string]any)["conditions"].([]any) {
				if m := c.(map[string]any); m["type"] == "Programmed" {
					return m
				}
			}
		}
	}
	return nil
}
