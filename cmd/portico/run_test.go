package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/freeport"
)

func TestEchoHandler(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/a/b?x=1", nil)
	req.Host = "www.example.com"
	req.Header.Set("X-Test", "yes")
	w := httptest.NewRecorder()
	echoHandler().ServeHTTP(w, req)
	var body struct {
		Path, Host, Method string
		Headers            map[string][]string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Path != "/a/b?x=1" || body.Host != "www.example.com" || body.Method != "POST" || body.Headers["X-Test"][0] != "yes" {
		t.Fatalf("echo = %+v", body)
	}
}

// freePort returns a loopback port nobody listens on, from outside the
// kernel's ephemeral range so nothing else takes it before it is bound.
func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// quickstart writes examples/quickstart with free ports: the Gateway's and
// the backend Service's (which is where the demo backend listens).
func quickstart(t *testing.T) (dir string, gw, backend int) {
	t.Helper()
	raw, err := os.ReadFile("../../examples/quickstart/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw, backend = freePort(t), freePort(t)
	y := strings.Replace(string(raw), "port: 80\n", fmt.Sprintf("port: %d\n", gw), 1)
	y = strings.ReplaceAll(y, "3000", fmt.Sprint(backend))
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quickstart.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, gw, backend
}

// command is a portico command line running in-process.
type command struct {
	done chan struct{} // closed when it returned
	err  error         // what it returned, once done is closed
}

// execute runs a portico command line in-process until the test ends.
func execute(t *testing.T, args ...string) *command {
	t.Helper()
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{done: make(chan struct{})}
	go func() {
		c.err = cmd.ExecuteContext(ctx)
		close(c.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
			if c.err != nil {
				t.Errorf("portico %s: %v", args[0], c.err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("portico %s did not stop", args[0])
		}
	})
	return c
}

// testOwned are the flags that keep a test's `portico run` off every
// default address and directory (admin 19000, xDS 18000, wasm 18002, the
// user's state and cache directories), so the tests pass while another
// `portico run` serves on the defaults: the wasm server and xDS on
// ephemeral ports, listeners on loopback (their ports are the test's
// YAML's), the state and the wasm cache in the test's directories. admin
// is the admin port ("" leaves it to --config).
func testOwned(t *testing.T, admin string) []string {
	t.Helper()
	args := []string{"--xds-address", "127.0.0.1:0", "--wasm-address", "127.0.0.1:0", "--wasm-cache-dir", t.TempDir(),
		"--listener-address", "127.0.0.1", "--log-level", "error"}
	if admin != "" {
		args = append(args, "--admin-address", admin, "--state-dir", t.TempDir())
	}
	return args
}

// waitReady polls /readyz (the admin API is the readiness signal). A proxy
// that rejects the quickstart skips the test with its reason.
func waitReady(t *testing.T, admin int, c *command) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", admin))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if st := statusJSON(admin); strings.Contains(st, " rejected ") {
				i := max(strings.Index(st, "unsupported"), 0)
				t.Fatalf("the built-in proxy rejected the quickstart (%s)", st[i:min(i+120, len(st))])
			}
		}
		select {
		case <-c.done:
			t.Fatalf("portico run exited: %v", c.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("portico run never became ready: %s", statusJSON(admin))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// getEcho sends GET path for www.example.com through the proxy.
func getEcho(t *testing.T, gw int, path string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", gw, path), nil)
	req.Host = "www.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var echo struct{ Path, Host, Method string }
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET through the proxy: %d %v", resp.StatusCode, err)
	}
	if echo.Path != path || echo.Host != "www.example.com" || echo.Method != "GET" {
		t.Fatalf("echo = %+v", echo)
	}
}

// `portico run -f <quickstart> --demo-backend ADDR` serves a real response
// with nothing else running.
func TestRunQuickstartWithDemoBackend(t *testing.T) {
	gw, _ := runQuickstart(t)
	getEcho(t, gw, "/get")
}

// runQuickstart runs `portico run` on the quickstart with the demo backend
// until the test ends and returns the Gateway's and the admin's ports once
// it is ready.
func runQuickstart(t *testing.T) (gw, admin int) {
	t.Helper()
	dir, gw, backend := quickstart(t)
	admin = freePort(t)
	c := execute(t, append([]string{"run", "-f", dir, "--demo-backend", fmt.Sprintf("127.0.0.1:%d", backend)},
		testOwned(t, fmt.Sprintf("127.0.0.1:%d", admin))...)...)
	waitReady(t, admin, c)
	return gw, admin
}

// `portico run --data-plane none` and `portico proxy --cluster ns/gw` as a
// separate command: the proxy finds its fleet by node.cluster.
func TestRunWithSeparateProxy(t *testing.T) {
	dir, gw, backend := quickstart(t)
	admin, xds := freePort(t), freePort(t)
	state := t.TempDir()
	// The proxy below needs the xDS port: the test's own, after testOwned's.
	c := execute(t, append(append([]string{"run", "-f", dir, "--demo-backend", fmt.Sprintf("127.0.0.1:%d", backend), "--data-plane", "none"},
		testOwned(t, fmt.Sprintf("127.0.0.1:%d", admin))...),
		"--xds-address", fmt.Sprintf("127.0.0.1:%d", xds), "--state-dir", state)...)
	// Not ready: no proxy serves the fleet yet.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", admin))
	for err != nil { // the admin server may not be up yet
		select {
		case <-c.done:
			t.Fatalf("portico run exited: %v", c.err)
		case <-time.After(25 * time.Millisecond):
		}
		resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", admin))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz without a proxy = %d", resp.StatusCode)
	}
	execute(t, "proxy", "--xds-address", fmt.Sprintf("127.0.0.1:%d", xds), "--cluster", "default/eg", "--node-id", "test-proxy",
		"--log-level", "error", "--certs", filepath.Join(state, "certs", "envoy"))
	waitReady(t, admin, c)
	getEcho(t, gw, "/separate")
	if st := statusJSON(admin); !strings.Contains(st, `"nodeID": "test-proxy"`) {
		t.Fatalf("/status does not list the proxy: %s", st)
	}
}

func statusJSON(admin int) string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/status", admin))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// --config reads Envoy Gateway's configuration: the file provider's paths
// are served and watched, and admin.address is used.
func TestRunWithEnvoyGatewayConfig(t *testing.T) {
	dir, gw, backend := quickstart(t)
	admin := freePort(t)
	cfg := filepath.Join(t.TempDir(), "envoy-gateway.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyGateway
provider:
  type: Custom
  custom:
    resource:
      type: File
      file:
        paths: [%q]
    infrastructure:
      type: Host
      host:
        configHome: %q
admin:
  address:
    host: 127.0.0.1
    port: %d
`, dir, t.TempDir(), admin)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := execute(t, append([]string{"run", "--config", cfg, "--demo-backend", fmt.Sprintf("127.0.0.1:%d", backend)}, testOwned(t, "")...)...)
	waitReady(t, admin, c)
	getEcho(t, gw, "/configured")
}

// Envoy Gateway's quickstart, unchanged, is served: without --demo-backend
// its Service has no address, so its route is reported and answers 500
// while a route to an FQDN Backend (a DNS cluster, envoy.cluster.dns)
// serves; with --demo-backend the quickstart's route serves too.
func TestRunUnchangedQuickstartAndDNSBackend(t *testing.T) {
	dir, gw, _ := quickstart(t)
	echo := httptest.NewServer(echoHandler())
	defer echo.Close()
	_, echoPort, _ := net.SplitHostPort(echo.Listener.Addr().String())
	if err := os.WriteFile(filepath.Join(dir, "fqdn.yaml"), []byte(fmt.Sprintf(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: local}
spec:
  endpoints: [{fqdn: {hostname: localhost, port: %s}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: fqdn}
spec:
  parentRefs: [{name: eg}]
  hostnames: [fqdn.example.com]
  rules:
    - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: local}]
`, echoPort)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "envoy-gateway.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nextensionApis:\n  enableBackend: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	admin := freePort(t)
	c := execute(t, append([]string{"run", "--config", cfg, "-f", dir}, testOwned(t, fmt.Sprintf("127.0.0.1:%d", admin))...)...)
	waitReady(t, admin, c)
	code := func(host string) int {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", gw), nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := code("fqdn.example.com"); c != 200 {
		t.Fatalf("route to the FQDN Backend: %d", c)
	}
	if c := code("www.example.com"); c != 500 {
		t.Fatalf("route to the quickstart's unaddressed Service: %d, want 500", c)
	}
	if st := statusJSON(admin); !strings.Contains(st, "Service default/backend has no endpoints") {
		t.Fatalf("/status does not explain the quickstart's route: %s", st)
	}
}
