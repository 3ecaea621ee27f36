package runner

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/ir"
)

// The xDS tells proxies where the wasm server is and which certificate
// files to present: by default this runner's address and the state
// directory's proxy bundle; with Options.WasmServer (proxy pods) the
// Service name and the pod's mounted files, also in the module URLs.
func TestWasmServerAsProxiesReachIt(t *testing.T) {
	module, err := os.ReadFile("../../examples/wasm/plugin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(module) }))
	defer origin.Close()
	policy := `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata:
  name: wasm
  namespace: default
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: backend
  wasm:
    - rootID: my_root_id
      code:
        type: HTTP
        http:
          url: ` + origin.URL + `/plugin.wasm
`
	pods := &ir.WasmServer{Host: "envoy-gateway.envoy-gateway-system.svc.cluster.local", Port: 18002,
		TLS: ProxyCertFiles("/certs")}
	for _, tc := range []struct {
		name   string
		server *ir.WasmServer
		want   func(r *Runner) []string
	}{
		{"this host", nil, func(r *Runner) []string {
			return []string{"https://" + r.WasmAddr() + "/", filepath.Join(r.CertsDir(), "envoy", "tls.crt")}
		}},
		{"proxy pods", pods, func(*Runner) []string {
			return []string{"https://envoy-gateway.envoy-gateway-system.svc.cluster.local:18002/", "/certs/tls.crt", "/certs/ca.crt"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "gateway.yaml"), gatewayYAML)
			writeFile(t, filepath.Join(dir, "route.yaml"), routeYAML("www.example.com"))
			writeFile(t, filepath.Join(dir, "wasm.yaml"), policy)
			r, err := New(Options{Paths: []string{dir}, XDSAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", WasmAddress: "127.0.0.1:0",
				WasmServer: tc.server, WasmCacheDir: t.TempDir(), DataPlane: host.None, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); <-r.Done() }()
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			e := &env{t: t, dir: dir, r: r, admin: "http://" + r.AdminAddr()}
			var dump string
			e.eventually("wasm_cluster in the config dump", func() bool {
				_, b := e.get("/config_dump?fleet=default/eg")
				dump = string(b)
				return strings.Contains(dump, "wasm_cluster") && strings.Contains(dump, "envoy.filters.http.wasm")
			})
			for _, want := range tc.want(r) {
				if !strings.Contains(dump, want) {
					t.Errorf("the config dump lacks %q", want)
				}
			}
		})
	}
}
