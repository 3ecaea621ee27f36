package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/resource"
)

const gatewayYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
---
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
      port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: backend
  namespace: default
spec:
  clusterIP: 127.0.0.1
  ports:
    - name: http
      port: 3000
      targetPort: 3000
`

func routeYAML(host string) string {
	return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend
  namespace: default
spec:
  parentRefs:
    - name: eg
  hostnames:
    - "` + host + `"
  rules:
    - backendRefs:
        - name: backend
          port: 3000
`
}

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
	t     *testing.T
	dir   string
	r     *Runner
	admin string
}

func start(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gateway.yaml"), gatewayYAML)
	writeFile(t, filepath.Join(dir, "route.yaml"), routeYAML("www.example.com"))
	r, err := New(Options{Paths: []string{dir}, XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", WasmAddress: "127.0.0.1:0",
		DataPlane: host.None, Debounce: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.Done():
		case <-time.After(10 * time.Second):
			t.Error("runner did not stop")
		}
		if err := r.Err(); err != nil {
			t.Error(err)
		}
	})
	return &env{t: t, dir: dir, r: r, admin: "http://" + r.AdminAddr()}
}

func (e *env) get(path string) (int, []byte) {
	e.t.Helper()
	resp, err := http.Get(e.admin + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) status() StatusList {
	e.t.Helper()
	_, b := e.get("/status")
	var l StatusList
	if err := json.Unmarshal(b, &l); err != nil {
		e.t.Fatalf("/status: %v\n%s", err, b)
	}
	return l
}

// gatewayCondition returns the Gateway's condition of that type.
func (l StatusList) gatewayCondition(typ string) map[string]any {
	for _, o := range l.Items {
		if o.Kind != "Gateway" {
			continue
		}
		for _, c := range o.Status["conditions"].([]any) {
			if m := c.(map[string]any); m["type"] == typ {
				return m
			}
		}
	}
	return nil
}

// eventually polls the admin API: it has no push channel. Bounded.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; status:\n%s", what, e.r.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeProxy is a minimal SotW ADS client: it subscribes to CDS and LDS and
// answers every response with an ACK, or a NACK carrying nackDetail.
type fakeProxy struct {
	mu         sync.Mutex
	nackDetail string
}

func (f *fakeProxy) setNACK(detail string) {
	f.mu.Lock()
	f.nackDetail = detail
	f.mu.Unlock()
}

// run connects to r's xDS server with the proxy certificates, as a proxy.
func (f *fakeProxy) run(t *testing.T, r *Runner, fleet string) {
	conn, err := grpc.NewClient(r.XDSAddr(), grpc.WithTransportCredentials(proxyCreds(t, r)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "fake-1", Cluster: fleet}
	// Route configurations too: the server sends only the types that
	// changed, and a route edit changes only those.
	for i, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType} {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typ}
		if i == 0 {
			req.Node = node
		}
		if err := cli.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	accepted := map[string]string{}
	go func() {
		for {
			resp, err := cli.Recv()
			if err != nil {
				return
			}
			f.mu.Lock()
			detail := f.nackDetail
			f.mu.Unlock()
			req := &discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}
			if detail != "" {
				req.VersionInfo = accepted[resp.GetTypeUrl()]
				req.ErrorDetail = &rpcstatus.Status{Code: 3, Message: detail}
			} else {
				req.VersionInfo = resp.GetVersionInfo()
				accepted[resp.GetTypeUrl()] = resp.GetVersionInfo()
			}
			if cli.Send(req) != nil {
				return
			}
		}
	}()
}

func (e *env) servedVersion() string {
	e.t.Helper()
	_, b := e.get("/config_dump?fleet=default/eg&resource=listener")
	var m map[string]struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("/config_dump: %v\n%s", err, b)
	}
	return m["default/eg"].Version
}

func TestProgrammedFollowsACKAndNACK(t *testing.T) {
	e := start(t)
	if code, body := e.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before any proxy = %d %s", code, body)
	}
	if c := e.status().gatewayCondition("Programmed"); c["status"] != "False" || c["reason"] != "Pending" {
		t.Fatalf("Programmed before any proxy = %v", c)
	}
	p := &fakeProxy{}
	p.run(t, e.r, "default/eg")
	e.eventually("Programmed=True", func() bool { return e.status().gatewayCondition("Programmed")["status"] == "True" })
	if code, _ := e.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after ACK = %d", code)
	}
	v1 := e.servedVersion()

	p.setNACK("listener default/eg/http: no such thing")
	writeFile(t, filepath.Join(e.dir, "route.yaml"), routeYAML("v2.example.com"))
	e.eventually("Programmed=False with the NACK detail", func() bool {
		c := e.status().gatewayCondition("Programmed")
		return c["status"] == "False" && c["reason"] == "Invalid" &&
			strings.Contains(fmt.Sprint(c["message"]), "listener default/eg/http: no such thing")
	})
	if v2 := e.servedVersion(); v2 == v1 {
		t.Fatalf("the edit did not produce a new version (%s)", v2)
	}
	l := e.status()
	gw := findObject(l, "Gateway")
	lc := gw.Status["listeners"].([]any)[0].(map[string]any)["conditions"].([]any)
	found := false
	for _, c := range lc {
		if m := c.(map[string]any); m["type"] == "Programmed" && m["status"] == "False" && strings.Contains(fmt.Sprint(m["message"]), "no such thing") {
			found = true
		}
	}
	if !found {
		t.Fatalf("listener Programmed not turned False: %v", lc)
	}
	if len(l.Portico.Fleets["default/eg"].Proxies) != 1 {
		t.Fatalf("fleet proxies: %+v", l.Portico.Fleets)
	}
	// Readiness is about having served once; a NACK later does not flap it.
	if code, _ := e.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after a NACK = %d", code)
	}
	_, metrics := e.get("/metrics")
	for _, want := range []string{`portico_xds_nacks_total{fleet="default/eg",type="`, `portico_xds_connected_proxies{fleet="default/eg"} 1`,
		`portico_xds_snapshot_pushes_total{fleet="default/eg"} 2`, "portico_translation_duration_seconds_count 2"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A fix that the proxy accepts turns it back True.
	p.setNACK("")
	writeFile(t, filepath.Join(e.dir, "route.yaml"), routeYAML("v3.example.com"))
	e.eventually("Programmed=True again", func() bool { return e.status().gatewayCondition("Programmed")["status"] == "True" })
}

func findObject(l StatusList, kind string) (o struct{ Status map[string]any }) {
	for _, it := range l.Items {
		if it.Kind == kind {
			o.Status = it.Status
			return o
		}
	}
	return o
}

func TestBadEditKeepsServing(t *testing.T) {
	e := start(t)
	p := &fakeProxy{}
	p.run(t, e.r, "default/eg")
	e.eventually("Programmed=True", func() bool { return e.status().gatewayCondition("Programmed")["status"] == "True" })
	v1 := e.servedVersion()

	writeFile(t, filepath.Join(e.dir, "route.yaml"), "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: [\n")
	e.eventually("the rejected edit in /status", func() bool {
		pr := e.status().Portico.Provider
		return !pr.Applied && strings.Contains(pr.Error, "route.yaml") && len(pr.Problems) > 0
	})
	if v := e.servedVersion(); v != v1 {
		t.Fatalf("a bad edit replaced the served version %s with %s", v1, v)
	}
	l := e.status()
	if l.gatewayCondition("Programmed")["status"] != "True" || findObject(l, "HTTPRoute").Status == nil {
		t.Fatalf("a bad edit changed what is served: %s", e.r.Status())
	}
	_, metrics := e.get("/metrics")
	if !strings.Contains(string(metrics), `portico_config_reloads_total{result="rejected"}`) {
		t.Error("rejected reload not counted")
	}
	if code, _ := e.get("/healthz"); code != http.StatusOK {
		t.Fatal("/healthz")
	}
}

const mergedYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: merged
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
  parametersRef:
    group: gateway.envoyproxy.io
    kind: EnvoyProxy
    name: merge
    namespace: default
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata:
  name: merge
  namespace: default
spec:
  mergeGateways: true
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: one
  namespace: default
spec:
  gatewayClassName: merged
  listeners:
    - name: http
      protocol: HTTP
      port: 8081
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: two
  namespace: default
spec:
  gatewayClassName: merged
  listeners:
    - name: http
      protocol: HTTP
      port: 8082
`

// With mergeGateways the GatewayClass is the fleet: one snapshot, one
// proxy (node.cluster = class name), and both Gateways follow its answers.
func TestMergedGatewaysShareAFleet(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "merged.yaml"), mergedYAML)
	r, err := New(Options{Paths: []string{dir}, XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", WasmAddress: "127.0.0.1:0",
		DataPlane: host.None, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-r.Done() }()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, r: r, admin: "http://" + r.AdminAddr()}
	if fleets := e.status().Portico.Fleets; len(fleets) != 1 || fleets["merged"].Version == "" {
		t.Fatalf("fleets = %+v, want one named merged", fleets)
	}
	(&fakeProxy{}).run(t, r, "merged")
	e.eventually("both Gateways Programmed", func() bool {
		n := 0
		for _, o := range e.status().Items {
			if o.Kind != "Gateway" {
				continue
			}
			for _, c := range o.Status["conditions"].([]any) {
				if m := c.(map[string]any); m["type"] == "Programmed" && m["status"] == "True" {
					n++
				}
			}
		}
		return n == 2
	})
}

// A translator panic costs one update: it is reported and the last good
// snapshot keeps serving.
func TestTranslatorPanicKeepsServing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gateway.yaml"), gatewayYAML)
	writeFile(t, filepath.Join(dir, "route.yaml"), routeYAML("www.example.com"))
	r, err := New(Options{Paths: []string{dir}, XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", WasmAddress: "127.0.0.1:0",
		DataPlane: host.None, Debounce: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	real := r.translate
	r.translate = func(s *resource.Set, cfg *egv1a1.EnvoyGateway, o pipeline.Options) *pipeline.Result {
		for _, h := range s.HTTPRoutes {
			if len(h.Spec.Hostnames) > 0 && h.Spec.Hostnames[0] == "panic.example.com" {
				panic("translator bug")
			}
		}
		return real(s, cfg, o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-r.Done() }()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, r: r, admin: "http://" + r.AdminAddr()}
	v1 := e.servedVersion()
	writeFile(t, filepath.Join(dir, "route.yaml"), routeYAML("panic.example.com"))
	e.eventually("the panic reported", func() bool {
		return strings.Contains(e.status().Portico.Provider.Error, "internal error: translator bug")
	})
	if v := e.servedVersion(); v != v1 {
		t.Fatalf("served version changed from %s to %s after a failed translation", v1, v)
	}
	writeFile(t, filepath.Join(dir, "route.yaml"), routeYAML("fine.example.com"))
	e.eventually("the next good edit applied", func() bool {
		p := e.status().Portico.Provider
		return p.Applied && e.servedVersion() != v1
	})
}
