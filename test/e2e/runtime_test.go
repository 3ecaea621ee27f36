// Package e2e runs the standalone runtime for real: the runner, the
// built-in proxy over gRPC ADS, and HTTP backends, all on 127.0.0.1 with
// free ports, sending real requests.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/freeport"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/runner"
)

const waitLimit = 15 * time.Second

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

// backend is an HTTP server that names itself in every answer.
func backend(t *testing.T, name string) int { return slowBackend(t, name, nil, nil) }

// slowBackend is backend whose /slow requests signal arrived and then wait
// for hold to be closed.
func slowBackend(t *testing.T, name string, arrived chan<- struct{}, hold <-chan struct{}) int {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" && hold != nil {
			arrived <- struct{}{}
			<-hold
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"backend": name, "path": r.URL.Path, "host": r.Host})
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// gatewayYAML is the quickstart with test ports: the Gateway listens on
// gwPort (above 1024, so the proxy binds it unchanged) and each Service's
// clusterIP:port is where a test backend really listens.
func gatewayYAML(gwPort int, extraListenerPort int, services map[string]int) string {
	var b strings.Builder
	b.WriteString(classAndServices(services))
	fmt.Fprintf(&b, `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: eg
  namespace: default
spec:
  gatewayClassName: eg
  listeners:
    - name: http
      protocol: HTTP
      port: %d
`, gwPort)
	if extraListenerPort != 0 {
		fmt.Fprintf(&b, "    - name: extra\n      protocol: HTTP\n      port: %d\n", extraListenerPort)
	}
	return b.String()
}

// classAndServices is the GatewayClass eg and one Service per backend.
func classAndServices(services map[string]int) string {
	var b strings.Builder
	b.WriteString(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
`)
	for name, port := range services {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: default
spec:
  clusterIP: 127.0.0.1
  ports:
    - name: http
      port: %d
      targetPort: %d
`, name, port, port)
	}
	return b.String()
}

func routeYAML(service string, port int) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend
  namespace: default
spec:
  parentRefs:
    - name: eg
  hostnames:
    - "www.example.com"
  rules:
    - backendRefs:
        - group: ""
          kind: Service
          name: %s
          port: %d
          weight: 1
      matches:
        - path:
            type: PathPrefix
            value: /
`, service, port)
}

// writeFile replaces a file atomically, as editors do.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type env struct {
	t      *testing.T
	dir    string
	gwPort int
	r      *runner.Runner
	client *http.Client
}

// start writes the files, starts the runner with the built-in proxy and
// waits for /readyz.
func start(t *testing.T, files map[string]string, gwPort int) *env {
	t.Helper()
	return startWith(t, nil, files, gwPort)
}

// startWith is start with an EnvoyGateway configuration.
func startWith(t *testing.T, cfg *egv1a1.EnvoyGateway, files map[string]string, gwPort int) *env {
	t.Helper()
	return startWithOptions(t, cfg, files, gwPort, nil)
}

// startWithOptions is startWith with runner options changed by mod.
func startWithOptions(t *testing.T, cfg *egv1a1.EnvoyGateway, files map[string]string, gwPort int, mod func(*runner.Options)) *env {
	t.Helper()
	e := startNoWait(t, host.Builtin, cfg, files, gwPort, mod)
	e.waitReady()
	return e
}

// startDataPlane is startWith with the data plane's kind.
func startDataPlane(t *testing.T, dataPlane string, cfg *egv1a1.EnvoyGateway, files map[string]string, gwPort int) *env {
	t.Helper()
	e := startNoWait(t, dataPlane, cfg, files, gwPort, nil)
	e.waitReady()
	return e
}

// startNoWait starts the runner with that data plane without waiting for
// readiness.
func startNoWait(t *testing.T, dataPlane string, cfg *egv1a1.EnvoyGateway, files map[string]string, gwPort int, mod func(*runner.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	o := runner.Options{Config: cfg, Paths: []string{dir}, XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0",
		WasmAddress: "127.0.0.1:0", WasmCacheDir: t.TempDir(), WasmRetry: 200 * time.Millisecond,
		DataPlane: dataPlane, ListenerAddress: "127.0.0.1", Debounce: 50 * time.Millisecond,
		ProxyAccessLog: io.Discard, ProxyLog: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&o)
	}
	r, err := runner.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, gwPort: gwPort, r: r, client: &http.Client{Timeout: 5 * time.Second}}
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.Done():
		case <-time.After(waitLimit):
			t.Error("runner did not stop")
		}
		if err := r.Err(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *env) admin(path string) (int, []byte) {
	e.t.Helper()
	resp, err := http.Get("http://" + e.r.AdminAddr() + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitReady polls /readyz. If the proxy rejected the very first
// configuration the test fails at once with the proxy's own words: the
// translator and the built-in proxy are both Portico's, so a gap between
// them is a bug, not a reason to skip.
func (e *env) waitReady() {
	e.t.Helper()
	e.eventually("/readyz", func() bool {
		code, _ := e.admin("/readyz")
		if code == http.StatusOK {
			return true
		}
		if c := e.programmed(); c.Reason == "Invalid" && strings.Contains(c.Message, " rejected ") {
			e.t.Fatalf("the built-in proxy rejected the initial configuration: %s", c.Message)
		}
		return false
	})
}

type condition struct {
	Type, Status, Reason, Message string
}

// statusList is /status, decoded.
func (e *env) statusList() runner.StatusList {
	e.t.Helper()
	_, b := e.admin("/status")
	var l runner.StatusList
	if err := json.Unmarshal(b, &l); err != nil {
		e.t.Fatalf("/status: %v", err)
	}
	return l
}

// programmed is the Gateway's Programmed condition from /status.
func (e *env) programmed() condition {
	e.t.Helper()
	for _, o := range e.statusList().Items {
		if o.Kind != "Gateway" {
			continue
		}
		conds, _ := o.Status["conditions"].([]any)
		for _, c := range conds {
			m := c.(map[string]any)
			if m["type"] == "Programmed" {
				return condition{Type: "Programmed", Status: fmt.Sprint(m["status"]), Reason: fmt.Sprint(m["reason"]), Message: fmt.Sprint(m["message"])}
			}
		}
	}
	return condition{}
}

// proxiesSynced reports whether every fleet's proxies serve the fleet's
// latest snapshot: statuses are written when a translation ends, before the
// proxies have its config, so a request checked against a status waits
// for this first.
func (e *env) proxiesSynced() bool {
	e.t.Helper()
	for _, f := range e.statusList().Portico.Fleets {
		if len(f.Proxies) == 0 {
			return false
		}
		for _, p := range f.Proxies {
			if !p.Synced(f.Version) {
				return false
			}
		}
	}
	return true
}

func (e *env) provider() runner.ProviderStatus {
	e.t.Helper()
	_, b := e.admin("/status")
	var l runner.StatusList
	if err := json.Unmarshal(b, &l); err != nil {
		e.t.Fatalf("/status: %v", err)
	}
	return l.Portico.Provider
}

// eventually polls cond (the admin API and the proxy have no push channel
// a test can wait on), up to waitLimit.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			_, st := e.admin("/status")
			e.t.Fatalf("timed out waiting for %s; /status:\n%s", what, st)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// get sends GET path with Host www.example.com through the proxy and
// returns the status and the answering backend's name.
func (e *env) get(path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", e.gwPort, path), nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = "www.example.com"
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body map[string]string
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body["backend"], nil
}

func TestQuickstartServes(t *testing.T) {
	bp := backend(t, "one")
	gw := freePort(t)
	e := start(t, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml": routeYAML("backend", bp)}, gw)
	code, name, err := e.get("/hello")
	if err != nil || code != http.StatusOK || name != "one" {
		t.Fatalf("GET /hello = %d %q %v", code, name, err)
	}
	if c := e.programmed(); c.Status != "True" {
		t.Fatalf("Programmed = %+v", c)
	}
	// The guides take the Gateway's address from status.addresses[0].value.
	_, st := e.admin("/status")
	if !strings.Contains(string(st), `"addresses": [`) || !strings.Contains(string(st), `"value": "127.0.0.1"`) {
		t.Fatalf("Gateway status has no address 127.0.0.1:\n%s", st)
	}
	// A host no route claims gets Envoy's 404.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", gw), nil)
	req.Host = "nobody.example.com"
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unrouted host = %d, want 404", resp.StatusCode)
	}
	code, b := e.admin("/config_dump?fleet=default/eg&resource=route")
	if code != http.StatusOK || !strings.Contains(string(b), "www.example.com") {
		t.Fatalf("/config_dump = %d %s", code, b)
	}
}

// The in-process data plane (--data-plane in-process) reaches the xDS
// server over an in-memory connection: it holds no certificate, so the
// mutual-TLS socket would refuse it, and it serves all the same.
func TestInProcessDataPlane(t *testing.T) {
	bp := backend(t, "one")
	gw := freePort(t)
	e := startDataPlane(t, host.InProcess, nil, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml": routeYAML("backend", bp)}, gw)
	if code, name, err := e.get("/hello"); err != nil || code != http.StatusOK || name != "one" {
		t.Fatalf("GET /hello = %d %q %v", code, name, err)
	}
	_, st := e.admin("/status")
	if !strings.Contains(string(st), `"nodeID": "builtin/default/eg/`) || strings.Contains(string(st), `"processes"`) {
		t.Fatalf("/status should list an in-process proxy and no process:\n%s", st)
	}
}

// An edit moves the route to another backend: the new backend answers
// within a bounded wait, and no request fails meanwhile.
func TestHotReloadNeverFailsRequests(t *testing.T) {
	arrived, hold := make(chan struct{}, 1), make(chan struct{})
	one, two := slowBackend(t, "one", arrived, hold), backend(t, "two")
	gw := freePort(t)
	e := start(t, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"one": one, "two": two}),
		"route.yaml": routeYAML("one", one)}, gw)
	if code, name, err := e.get("/"); err != nil || code != 200 || name != "one" {
		t.Fatalf("before the edit: %d %q %v", code, name, err)
	}

	// A request in flight across the reload completes normally.
	type result struct {
		code int
		name string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		code, name, err := e.get("/slow")
		slow <- result{code, name, err}
	}()
	select {
	case <-arrived:
	case <-time.After(waitLimit):
		t.Fatal("the slow request never reached backend one")
	}

	var sent, failed atomic.Int64
	var sawTwo atomic.Bool
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, name, err := e.get("/")
				sent.Add(1)
				if err != nil || code != 200 || (name != "one" && name != "two") {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %q %v", code, name, err))
					mu.Unlock()
				}
				if name == "two" {
					sawTwo.Store(true)
				}
			}
		}()
	}
	writeFile(t, filepath.Join(e.dir, "route.yaml"), routeYAML("two", two))
	e.eventually("backend two to answer", sawTwo.Load)
	close(stop)
	wg.Wait()
	close(hold)
	if r := <-slow; r.err != nil || r.code != 200 || r.name != "one" {
		t.Fatalf("the request in flight during the reload: %d %q %v", r.code, r.name, r.err)
	}
	if failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed during the reload: %v", failed.Load(), sent.Load(), failures[:min(5, len(failures))])
	}
	// After the switch every request goes to two.
	for i := 0; i < 5; i++ {
		if code, name, err := e.get("/"); err != nil || code != 200 || name != "two" {
			t.Fatalf("after the reload: %d %q %v", code, name, err)
		}
	}
	e.eventually("Programmed=True at the new version", func() bool { return e.programmed().Status == "True" })
}

// A broken edit is rejected and reported; the last good config keeps serving.
func TestBadEditKeepsServing(t *testing.T) {
	bp := backend(t, "one")
	gw := freePort(t)
	e := start(t, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml": routeYAML("backend", bp)}, gw)
	writeFile(t, filepath.Join(e.dir, "route.yaml"), "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: backend\n  namespace: default\nspec:\n  rules: [\n")
	e.eventually("the rejected edit in /status", func() bool {
		p := e.provider()
		return !p.Applied && strings.Contains(p.Error, "route.yaml")
	})
	for i := 0; i < 5; i++ {
		if code, name, err := e.get("/"); err != nil || code != 200 || name != "one" {
			t.Fatalf("after a bad edit: %d %q %v", code, name, err)
		}
	}
	if c := e.programmed(); c.Status != "True" {
		t.Fatalf("a rejected edit changed Programmed: %+v", c)
	}
	// Deleting every file is not applied either.
	for _, f := range []string{"route.yaml", "gateway.yaml"} {
		if err := os.Remove(filepath.Join(e.dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	e.eventually("the empty reload rejected", func() bool {
		return strings.Contains(e.provider().Error, "no valid object")
	})
	if code, name, err := e.get("/"); err != nil || code != 200 || name != "one" {
		t.Fatalf("after deleting the files: %d %q %v", code, name, err)
	}
}

// A listener the proxy cannot bind makes it NACK: Programmed turns False
// with the proxy's detail, and what was served before keeps serving.
func TestNACKTurnsProgrammedFalse(t *testing.T) {
	bp := backend(t, "one")
	gw := freePort(t)
	e := start(t, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml": routeYAML("backend", bp)}, gw)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	writeFile(t, filepath.Join(e.dir, "gateway.yaml"), gatewayYAML(gw, busyPort, map[string]int{"backend": bp}))
	e.eventually("Programmed=False with the bind error", func() bool {
		c := e.programmed()
		return c.Status == "False" && c.Reason == "Invalid" && strings.Contains(c.Message, fmt.Sprint(busyPort))
	})
	if code, name, err := e.get("/"); err != nil || code != 200 || name != "one" {
		t.Fatalf("after a NACK the old config must serve: %d %q %v", code, name, err)
	}
	_, m := e.admin("/metrics")
	if !strings.Contains(string(m), `portico_xds_nacks_total{fleet="default/eg",type="LDS"}`) {
		t.Fatal("NACK not counted in /metrics")
	}
	// Freeing the port is not a config change; removing the listener is,
	// and the proxy accepts it: Programmed is True again.
	writeFile(t, filepath.Join(e.dir, "gateway.yaml"), gatewayYAML(gw, 0, map[string]int{"backend": bp}))
	e.eventually("Programmed=True after the fix", func() bool { return e.programmed().Status == "True" })
}

// namedGateway is a Gateway of class eg with its own HTTPRoute to backend.
func namedGateway(name string, port, backendPort int) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: %s
  namespace: default
spec:
  gatewayClassName: eg
  listeners:
    - name: http
      protocol: HTTP
      port: %d
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %s
  namespace: default
spec:
  parentRefs:
    - name: %s
  hostnames: ["www.example.com"]
  rules:
    - backendRefs:
        - name: backend
          port: %d
`, name, port, name, name, backendPort)
}

// Each Gateway is its own fleet with its own proxy; removing a Gateway
// stops its proxy and leaves the other serving.
func TestOneProxyPerGateway(t *testing.T) {
	bp := backend(t, "one")
	portA, portB := freePort(t), freePort(t)
	files := map[string]string{"base.yaml": classAndServices(map[string]int{"backend": bp}),
		"a.yaml": namedGateway("a", portA, bp), "b.yaml": namedGateway("b", portB, bp)}
	e := start(t, files, portA)
	getVia := func(port int) (int, string, error) {
		g := *e
		g.gwPort = port
		return g.get("/")
	}
	for _, p := range []int{portA, portB} {
		if code, name, err := getVia(p); err != nil || code != 200 || name != "one" {
			t.Fatalf("gateway on %d: %d %q %v", p, code, name, err)
		}
	}
	if err := os.Remove(filepath.Join(e.dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	e.eventually("gateway b's proxy to stop", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", portB), time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return true
	})
	if code, name, err := getVia(portA); err != nil || code != 200 || name != "one" {
		t.Fatalf("gateway a after b's removal: %d %q %v", code, name, err)
	}
	_, st := e.admin("/status")
	if strings.Contains(string(st), `"default/b"`) || !strings.Contains(string(st), `"default/a"`) {
		t.Fatalf("fleets in /status after removal: %s", st)
	}
}

// An EnvoyPatchPolicy whose result the proxy rejects: the policy applied
// (translation says Programmed True), but the proxy NACKs, so the policy's
// Programmed turns False with the proxy's reason, next to the Gateway's.
func TestPatchPolicyRejectedByProxy(t *testing.T) {
	bp := backend(t, "one")
	gw := freePort(t)
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableEnvoyPatchPolicy: true}
	e := startWith(t, cfg, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml": routeYAML("backend", bp)}, gw)
	writeFile(t, filepath.Join(e.dir, "patch.yaml"), `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata:
  name: fast-open
  namespace: default
spec:
  targetRef:
    group: gateway.networking.k8s.io
    kind: Gateway
    name: eg
  type: JSONPatch
  jsonPatches:
    - type: "type.googleapis.com/envoy.config.listener.v3.Listener"
      name: default/eg/http
      operation:
        op: add
        path: "/tcp_fast_open_queue_length"
        value: 5
`)
	var policy string
	e.eventually("the policy's Programmed False with the proxy's reason", func() bool {
		_, b := e.admin("/status")
		var l runner.StatusList
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			if o.Kind != "EnvoyPatchPolicy" {
				continue
			}
			raw, _ := json.Marshal(o.Status)
			policy = string(raw)
			return strings.Contains(policy, `"reason":"Invalid"`) && strings.Contains(policy, "tcp_fast_open_queue_length")
		}
		return false
	})
	if c := e.programmed(); c.Status != "False" || !strings.Contains(c.Message, "tcp_fast_open_queue_length") {
		t.Fatalf("Gateway Programmed = %+v", c)
	}
	if code, name, err := e.get("/"); err != nil || code != 200 || name != "one" {
		t.Fatalf("the config before the patch must keep serving: %d %q %v", code, name, err)
	}
}
