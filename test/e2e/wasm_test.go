package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
	"github.com/portico-gw/portico/internal/runner"
	"github.com/portico-gw/portico/internal/wasm"
)

// origin serves Wasm modules (and bad answers) the way a plugin's
// download URL would, over real HTTP on loopback.
type origin struct {
	srv   *httptest.Server
	files map[string][]byte
	up    atomic.Bool // /flaky.wasm answers 404 until up
}

func newOrigin(t *testing.T, files map[string][]byte) *origin {
	t.Helper()
	o := &origin{files: files}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		switch {
		case name == "html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>Login required</body></html>"))
		case name == "hang.wasm":
			<-r.Context().Done()
		case name == "flaky.wasm" && !o.up.Load():
			http.NotFound(w, r)
		case o.files[name] != nil:
			_, _ = w.Write(o.files[name])
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) url(name string) string { return o.srv.URL + "/" + name }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func wasmPolicy(name, route, url, sum, rootID, extra string) string {
	return extensionPolicy(name, route, rootID, "HTTP", url, sum, "") + extra
}

// extensionPolicy is an EnvoyExtensionPolicy with one Wasm extension on
// one route, its code from source (HTTP or Image) at url, with a sha256
// and (images) a pull secret when given.
func extensionPolicy(name, route, rootID, source, url, sum, secret string) string {
	s := fmt.Sprintf(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata:
  name: %s
  namespace: default
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: %s
  wasm:
    - name: wasm-filter
      rootID: %q
      code:
        type: %s
        %s:
          url: %s
`, name, route, rootID, source, strings.ToLower(source), url)
	if sum != "" {
		s += "          sha256: " + sum + "\n"
	}
	if secret != "" {
		s += "          pullSecretRef:\n            name: " + secret + "\n"
	}
	return s
}

// policyCondition is the Accepted condition of an EnvoyExtensionPolicy in
// /status.
func (e *env) policyCondition(name string) condition {
	e.t.Helper()
	_, b := e.admin("/status")
	var l runner.StatusList
	if err := json.Unmarshal(b, &l); err != nil {
		e.t.Fatalf("/status: %v", err)
	}
	for _, o := range l.Items {
		if o.Kind != "EnvoyExtensionPolicy" || o.Metadata["name"] != name {
			continue
		}
		ancestors, _ := o.Status["ancestors"].([]any)
		for _, a := range ancestors {
			conds, _ := a.(map[string]any)["conditions"].([]any)
			for _, c := range conds {
				m := c.(map[string]any)
				if m["type"] == "Accepted" {
					return condition{Type: "Accepted", Status: fmt.Sprint(m["status"]), Reason: fmt.Sprint(m["reason"]), Message: fmt.Sprint(m["message"])}
				}
			}
		}
	}
	return condition{}
}

// fastFetch keeps failing downloads short in tests.
func fastFetch(o *runner.Options) {
	o.WasmFetch = wasm.Fetcher{Attempts: 2, Timeout: 500 * time.Millisecond, BackoffBase: 10 * time.Millisecond, MaxSize: 8 << 20}
	o.WasmWait = 3 * time.Second
}

// TestWasmGuideExample is the Wasm Extensions guide's HTTP example on the
// quickstart (examples/wasm/policies/wasm-http.yaml with its URL pointing
// at a local server): the corpus plugin adds x-wasm-custom: FOO and
// rewrites the body; a route without the policy is untouched; the Go
// version of the plugin (examples/wasm/plugin) does the same on another
// route.
func TestWasmGuideExample(t *testing.T) {
	plugin, err := os.ReadFile(filepath.Join("..", "..", "examples", "wasm", "plugin.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	header := wasmtest.Build(t, "header")
	o := newOrigin(t, map[string][]byte{"plugin.wasm": plugin, "header.wasm": header})
	policy := strings.Replace(readExample(t, "wasm", "policies", "wasm-http.yaml"), "http://127.0.0.1:8080/plugin.wasm", o.url("plugin.wasm"), 1)
	bp := backend(t, "one")
	gw := freePort(t)
	e := startWithOptions(t, nil, map[string]string{
		"gateway.yaml":   gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":     routeYAML("backend", bp),
		"plain.yaml":     namedRouteYAML("plain", "plain.example.com", "backend", bp),
		"go.yaml":        namedRouteYAML("go", "go.example.com", "backend", bp),
		"wasm-http.yaml": policy,
		"go-policy.yaml": wasmPolicy("go-header", "go", o.url("header.wasm"), sha(header), "", ""),
	}, gw, fastFetch)
	e.eventually("x-wasm-custom: FOO", func() bool {
		code, v := e.header("www.example.com", "/", "x-wasm-custom")
		return code == http.StatusOK && v == "FOO"
	})
	if code, body, _ := e.raw("www.example.com", "/"); code != http.StatusOK || !strings.HasPrefix(body, "Hello, world") {
		t.Errorf("body not rewritten: %d %q", code, body)
	}
	if code, v := e.header("plain.example.com", "/", "x-wasm-custom"); code != http.StatusOK || v != "" {
		t.Errorf("route without the policy: %d x-wasm-custom=%q", code, v)
	}
	e.eventually("the Go plugin", func() bool {
		code, v := e.header("go.example.com", "/", "x-wasm-custom")
		return code == http.StatusOK && v == "FOO"
	})
	for _, p := range []string{"wasm-test", "go-header"} {
		if c := e.policyCondition(p); c.Status != "True" || c.Message != "Policy has been accepted." {
			t.Errorf("%s: %+v", p, c)
		}
	}
}

// TestWasmBadInputs gives each bad input its own policy and route: each
// policy says precisely why, its route fails closed (500) or, with
// failOpen, passes without the plugin, and every other route keeps
// serving.
func TestWasmBadInputs(t *testing.T) {
	plugin, err := os.ReadFile(filepath.Join("..", "..", "examples", "wasm", "plugin.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 4096)
	_, _ = rand.Read(noise)
	big := append(append([]byte(nil), plugin...), make([]byte, 9<<20)...)
	o := newOrigin(t, map[string][]byte{"plugin.wasm": plugin, "noise.wasm": noise, "noabi.wasm": []byte("\x00asm\x01\x00\x00\x00"), "big.wasm": big})
	bp := backend(t, "one")
	gw := freePort(t)
	files := map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   routeYAML("backend", bp),
	}
	cases := []struct {
		name, url, sum, extra string
		message               string
		code                  int
	}{
		{"notfound", o.url("missing.wasm"), "", "", "Wasm: Wasm module download failed after 1 attempts, last error: wasm module download request failed: status code 404.", 500},
		{"timeout", o.url("hang.wasm"), "", "", "Wasm: Wasm module download failed after 2 attempts, last error: Get \"" + o.url("hang.wasm") + "\": context deadline exceeded (Client.Timeout exceeded while awaiting headers).", 500},
		{"html", o.url("html"), "", "", "Wasm: Fetched Wasm binary from " + o.url("html") + " is invalid.", 500},
		{"checksum", o.url("plugin.wasm"), strings.Repeat("a", 64), "", "Wasm: Module downloaded from " + o.url("plugin.wasm") + " has checksum " + sha(plugin) + ", which does not match: " + strings.Repeat("a", 64) + ".", 500},
		{"noise", o.url("noise.wasm"), "", "", "Wasm: Fetched Wasm binary from " + o.url("noise.wasm") + " is invalid.", 500},
		{"noabi", o.url("noabi.wasm"), "", "", "Wasm: Module downloaded from " + o.url("noabi.wasm") + ": it exports none of proxy_abi_version_0_2_1, proxy_abi_version_0_2_0, proxy_abi_version_0_1_0: not a proxy-wasm module.", 500},
		{"toobig", o.url("big.wasm"), "", "", "Wasm: Wasm module download failed after 1 attempts, last error: wasm module from " + o.url("big.wasm") + " is larger than the limit of 8388608 bytes.", 500},
		{"failopen", o.url("missing.wasm"), "", "      failOpen: true\n", "Wasm: Wasm module download failed after 1 attempts, last error: wasm module download request failed: status code 404.", 200},
	}
	for _, c := range cases {
		files[c.name+"-route.yaml"] = namedRouteYAML(c.name, c.name+".example.com", "backend", bp)
		files[c.name+"-policy.yaml"] = wasmPolicy(c.name, c.name, c.url, c.sum, "my_root_id", c.extra)
	}
	files["good-route.yaml"] = namedRouteYAML("good", "good.example.com", "backend", bp)
	files["good-policy.yaml"] = wasmPolicy("good", "good", o.url("plugin.wasm"), sha(plugin), "my_root_id", "")
	e := startWithOptions(t, nil, files, gw, fastFetch)
	e.eventually("the good plugin", func() bool {
		code, v := e.header("good.example.com", "/", "x-wasm-custom")
		return code == http.StatusOK && v == "FOO"
	})
	for _, c := range cases {
		cond := e.policyCondition(c.name)
		if cond.Status != "False" || cond.Reason != "Invalid" || cond.Message != c.message {
			t.Errorf("%s: %+v\nwant message %s", c.name, cond, c.message)
		}
		if code, v := e.header(c.name+".example.com", "/", "x-wasm-custom"); code != c.code || v != "" {
			t.Errorf("%s: route answered %d (x-wasm-custom %q), want %d", c.name, code, v, c.code)
		}
	}
	if code, _, _ := e.get("/"); code != http.StatusOK {
		t.Errorf("a route without Wasm: %d", code)
	}
}

// TestWasmFaultsAtRunTime: a plugin that traps or never returns fails
// that request (503 wasm_fail_stream), or lets it through with failOpen;
// the proxy replaces the VM and keeps serving everything.
func TestWasmFaultsAtRunTime(t *testing.T) {
	faults := wasmtest.Build(t, "faults")
	o := newOrigin(t, map[string][]byte{"faults.wasm": faults})
	bp := backend(t, "one")
	gw := freePort(t)
	e := startWithOptions(t, nil, map[string]string{
		"gateway.yaml":  gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":    routeYAML("backend", bp),
		"closed.yaml":   namedRouteYAML("closed", "closed.example.com", "backend", bp),
		"open.yaml":     namedRouteYAML("open", "open.example.com", "backend", bp),
		"p-closed.yaml": wasmPolicy("closed", "closed", o.url("faults.wasm"), sha(faults), "", ""),
		"p-open.yaml":   wasmPolicy("open", "open", o.url("faults.wasm"), sha(faults), "", "      failOpen: true\n"),
	}, gw, fastFetch)
	for _, host := range []string{"closed.example.com", "open.example.com"} {
		e.eventually("the faults plugin on "+host, func() bool {
			code, v := e.header(host, "/", "x-faults")
			return code == http.StatusOK && v == "ok"
		})
	}
	for _, path := range []string{"/trap", "/loop"} {
		if code, _ := e.header("closed.example.com", path, "x-faults"); code != http.StatusServiceUnavailable {
			t.Errorf("closed %s: %d, want 503", path, code)
		}
		if code, _ := e.header("open.example.com", path, "x-faults"); code != http.StatusOK {
			t.Errorf("failOpen %s: %d, want 200", path, code)
		}
		if code, _, _ := e.get("/"); code != http.StatusOK {
			t.Errorf("after %s, a route without Wasm: %d", path, code)
		}
		e.eventually("a new VM after "+path, func() bool {
			code, v := e.header("closed.example.com", "/", "x-faults")
			return code == http.StatusOK && v == "ok"
		})
	}
}

// TestWasmRetryWithoutEdit: a URL that fails is retried in the background;
// once it serves the module the policy turns Accepted and the route serves
// the plugin, with no edit (Envoy Gateway's issue #5619).
func TestWasmRetryWithoutEdit(t *testing.T) {
	plugin, err := os.ReadFile(filepath.Join("..", "..", "examples", "wasm", "plugin.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	o := newOrigin(t, map[string][]byte{"flaky.wasm": plugin})
	bp := backend(t, "one")
	gw := freePort(t)
	e := startWithOptions(t, nil, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   routeYAML("backend", bp),
		"policy.yaml":  wasmPolicy("flaky", "backend", o.url("flaky.wasm"), sha(plugin), "my_root_id", ""),
	}, gw, fastFetch)
	e.eventually("the 404 in the status", func() bool {
		return strings.Contains(e.policyCondition("flaky").Message, "status code 404")
	})
	if code, _, _ := e.get("/"); code != http.StatusInternalServerError {
		t.Fatalf("route of a failed module: %d, want 500", code)
	}
	o.up.Store(true)
	e.eventually("the module picked up without an edit", func() bool {
		code, v := e.header("www.example.com", "/", "x-wasm-custom")
		return code == http.StatusOK && v == "FOO"
	})
	if c := e.policyCondition("flaky"); c.Status != "True" {
		t.Errorf("policy after the retry: %+v", c)
	}
}

// TestWasmHTTPCallToACluster: the httpcall plugin asks another cluster of
// the config (the checker route's) before each request and passes its
// answer upstream in x-check, through the built-in proxy's own clusters.
func TestWasmHTTPCallToACluster(t *testing.T) {
	plugin := wasmtest.Build(t, "httpcall")
	o := newOrigin(t, map[string][]byte{"httpcall.wasm": plugin})
	checker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("approved " + r.URL.Path))
	}))
	t.Cleanup(checker.Close)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Saw-Check", r.Header.Get("X-Check"))
	}))
	t.Cleanup(echo.Close)
	port := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	gw := freePort(t)
	e := startWithOptions(t, nil, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"echo": port(echo), "checker": port(checker)}),
		"route.yaml":   routeYAML("echo", port(echo)),
		"checker.yaml": namedRouteYAML("checker", "checker.example.com", "checker", port(checker)),
		"policy.yaml": wasmPolicy("call", "backend", o.url("httpcall.wasm"), sha(plugin), "",
			"      config: httproute/default/checker/rule/0\n"),
	}, gw, fastFetch)
	e.eventually("the checker's answer upstream", func() bool {
		code, v := e.header("www.example.com", "/", "x-saw-check")
		return code == http.StatusOK && v == "approved /check"
	})
}
