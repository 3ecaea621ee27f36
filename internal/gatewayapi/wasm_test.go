package gatewayapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
)

const wasmSHA = "79c9f85128bb0177b6511afa85d587224efded376ac0ef76df56595f1e6315c0"

func wasmPolicyYAML(name, targets, wasm string) string {
	return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyExtensionPolicy\nmetadata: {name: " + name +
		", namespace: default}\nspec:\n" + targets + "  wasm:\n" + wasm
}

func httpWasm(url, extra string) string {
	return "  - name: wasm-filter\n    rootID: my_root_id\n    code:\n      type: HTTP\n      http:\n        url: " + url + "\n" + extra
}

// fakeModules serves every URL under http://good/ and fails the others
// with the error a fetch of them gave.
var fakeModules = WasmModuleFunc(func(c WasmCode) (WasmModule, error) {
	if strings.HasPrefix(c.URL, "http://good/") {
		return WasmModule{ServingURL: "http://127.0.0.1:18002/" + strings.TrimPrefix(c.URL, "http://good/"), SHA256: wasmSHA}, nil
	}
	return WasmModule{}, errors.New("wasm module download failed after 1 attempts, last error: wasm module download request failed: status code 404")
})

func wasmNames(rt *ir.HTTPRoute) string {
	if rt.EnvoyExtensions == nil {
		return ""
	}
	var n []string
	for _, w := range rt.EnvoyExtensions.Wasms {
		n = append(n, w.Name)
	}
	return strings.Join(n, ",")
}

func TestWasmHTTP(t *testing.T) {
	r := luaTranslate(t, wasmPolicyYAML("wasm-test", routeTarget("backend"),
		httpWasm("http://good/plugin.wasm", "        sha256: "+wasmSHA+"\n    config: {b: 1, a: [x]}\n    failOpen: true\n    env: {hostKeys: [HOME]}\n")),
		Options{Wasm: fakeModules, WasmServer: &ir.WasmServer{Host: "127.0.0.1", Port: 18002}})
	if c := accepted(t, r, "wasm-test"); c.Status != "True" {
		t.Fatalf("%+v", c)
	}
	rs := irRoutes(r)
	w := rs[backendRoute].EnvoyExtensions.Wasms[0]
	if w.Name != "envoyextensionpolicy/default/wasm-test/wasm/0" || w.WasmName != "wasm-filter" || *w.RootID != "my_root_id" ||
		!w.FailOpen || w.Code.ServingURL != "http://127.0.0.1:18002/plugin.wasm" || w.Code.OriginalURL != "http://good/plugin.wasm" ||
		w.Code.SHA256 != wasmSHA || len(w.HostKeys) != 1 || !strings.Contains(string(w.Config), `"a"`) {
		t.Errorf("IR %+v %+v", w, w.Code)
	}
	if wasmNames(rs[otherRoute]) != "" {
		t.Error("other route must not get the plugin")
	}
	if g := r.XdsIR["default/eg"].GlobalResources; g == nil || g.WasmServer.Port != 18002 {
		t.Errorf("global resources %+v", g)
	}
}

// A module that cannot be fetched: the policy says why, its routes answer
// 500 (or keep going without it with failOpen), other routes are untouched.
func TestWasmFetchFailureIsolated(t *testing.T) {
	r := luaTranslate(t, wasmPolicyYAML("wasm-404", routeTarget("backend"), httpWasm("http://bad/x.wasm", ""))+
		wasmPolicyYAML("wasm-open", routeTarget("api"), httpWasm("http://bad/x.wasm", "    failOpen: true\n")+
			httpWasm("http://good/y.wasm", ""))+
		wasmPolicyYAML("wasm-ok", routeTarget("other"), httpWasm("http://good/x.wasm", "")), Options{Wasm: fakeModules})
	want := "Wasm: Wasm module download failed after 1 attempts, last error: wasm module download request failed: status code 404."
	for _, n := range []string{"wasm-404", "wasm-open"} {
		if c := accepted(t, r, n); c.Status != "False" || c.Reason != "Invalid" || c.Message != want {
			t.Errorf("%s: %+v", n, c)
		}
	}
	if c := accepted(t, r, "wasm-ok"); c.Status != "True" {
		t.Errorf("wasm-ok: %+v", c)
	}
	rs := irRoutes(r)
	if d := rs[backendRoute].DirectResponse; d == nil || d.StatusCode != 500 {
		t.Errorf("backend route should answer 500: %+v", rs[backendRoute])
	}
	if rs[apiRoute].DirectResponse != nil || wasmNames(rs[apiRoute]) != "envoyextensionpolicy/default/wasm-open/wasm/1" {
		t.Errorf("failOpen: the route keeps the entries that built: %+v", rs[apiRoute])
	}
	if rs[otherRoute].DirectResponse != nil || wasmNames(rs[otherRoute]) == "" {
		t.Errorf("other route must keep working: %+v", rs[otherRoute])
	}
}

// Without a module source nothing is fetched: the entry fails, clearly.
func TestWasmNoSource(t *testing.T) {
	r := luaTranslate(t, wasmPolicyYAML("w", routeTarget("backend"), httpWasm("http://good/x.wasm", "")), Options{})
	if c := accepted(t, r, "w"); c.Status != "False" || !strings.Contains(c.Message, "was not fetched") {
		t.Errorf("%+v", c)
	}
}

// ConfigMap code is not served yet: Accepted=False naming the type, and
// the routes fail closed.
func TestWasmUnsupportedCodeTypes(t *testing.T) {
	r := luaTranslate(t, wasmPolicyYAML("img", routeTarget("backend"),
		"  - code: {type: ConfigMap, configMap: {name: plugin}}\n"), Options{Wasm: fakeModules})
	if c := accepted(t, r, "img"); c.Status != "False" || !strings.HasPrefix(c.Message, "spec.wasm[0].code.configMap is not supported by Portico yet") {
		t.Errorf("%+v", c)
	}
	if d := irRoutes(r)[backendRoute].DirectResponse; d == nil || d.StatusCode != 500 {
		t.Error("routes of an unsupported code type fail closed")
	}
}

// Route beats Gateway for Wasm as for Lua: the route policy's entries
// replace the gateway policy's on that route.
func TestWasmPrecedence(t *testing.T) {
	gwTarget := "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: eg}]\n"
	r := luaTranslate(t, wasmPolicyYAML("gw", gwTarget, httpWasm("http://good/g.wasm", ""))+
		wasmPolicyYAML("rt", routeTarget("backend"), httpWasm("http://good/r.wasm", "")), Options{Wasm: fakeModules})
	rs := irRoutes(r)
	if got := wasmNames(rs[backendRoute]); got != "envoyextensionpolicy/default/rt/wasm/0" {
		t.Errorf("backend: %q", got)
	}
	if got := wasmNames(rs[otherRoute]); got != "envoyextensionpolicy/default/gw/wasm/0" {
		t.Errorf("other: %q", got)
	}
}

// WasmCodes lists exactly what a translation will look up, with the CA
// of tls.caCertificateRef.
func TestWasmCodes(t *testing.T) {
	docs := wasmPolicyYAML("a", routeTarget("backend"), httpWasm("https://x/a.wasm",
		"        tls: {caCertificateRef: {kind: ConfigMap, name: ca}}\n")+
		"  - code: {type: HTTP, http: {url: http://good/b.wasm, sha256: "+wasmSHA+"}}\n") +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ca, namespace: default}\ndata: {ca.crt: PEM}\n"
	set, problems := resource.LoadBytes("t.yaml", []byte(luaBase+docs))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	codes := WasmCodes(set)
	if len(codes) != 2 || codes[0] != (WasmCode{URL: "https://x/a.wasm", CACert: "PEM"}) ||
		codes[1] != (WasmCode{URL: "http://good/b.wasm", SHA256: wasmSHA}) {
		t.Fatalf("%+v", codes)
	}
	var asked []WasmCode
	Translate(set, Options{Wasm: WasmModuleFunc(func(c WasmCode) (WasmModule, error) {
		asked = append(asked, c)
		return WasmModule{}, errors.New("x")
	})})
	if len(asked) != 2 || asked[0] != codes[0] || asked[1] != codes[1] {
		t.Errorf("asked %+v", asked)
	}
}
