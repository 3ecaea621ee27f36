package translate

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	sdk "github.com/portico-gw/portico/pkg/extension"
	pb "github.com/portico-gw/portico/proto/extension"
)

type headerServer struct {
	sdk.Base
	calls *atomic.Int64
}

// PostRouteModify answers with the route (re-encoded), the realistic cost.
func (h headerServer) PostRouteModify(_ context.Context, r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
	h.calls.Add(1)
	return &pb.PostRouteModifyResponse{Route: r.GetRoute()}, nil
}

// BenchmarkXTranslateRouteHook1000 is `x translate` of 1000 HTTPRoutes, each
// with an extensionRef filter, with and without the Route hook (a server on
// a unix socket that answers every route), interleaved so that load from
// other processes hits both alike. Reported: hooked/plain.
func BenchmarkXTranslateRouteHook1000(b *testing.B) {
	dir := b.TempDir()
	var y strings.Builder
	y.WriteString(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  clusterIP: 10.0.0.1
  ports: [{name: http, port: 3000, targetPort: 3000}]
`)
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&y, `---
apiVersion: example.extensions.io/v1alpha1
kind: RouteContextExample
metadata: {name: ctx-%[1]d, namespace: default}
spec: {header: v%[1]d}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r%[1]d, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: ["h%[1]d.example.com"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /p%[1]d}}]
    filters:
    - type: ExtensionRef
      extensionRef: {group: example.extensions.io, kind: RouteContextExample, name: ctx-%[1]d}
    backendRefs: [{name: backend, port: 3000}]
`, i)
	}
	in := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(in, []byte(y.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	sock := filepath.Join(dir, "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	var calls atomic.Int64
	s := sdk.Serve(lis, headerServer{calls: &calls})
	defer s.Stop()
	cfg := func(hooks bool) *egv1a1.EnvoyGateway {
		c := OfflineDefaults()
		c.ExtensionManager = &egv1a1.ExtensionManager{
			Resources: []egv1a1.GroupVersionKind{{Group: "example.extensions.io", Version: "v1alpha1", Kind: "RouteContextExample"}},
			Service:   &egv1a1.ExtensionService{Unix: &egv1a1.UnixSocket{Path: sock}},
		}
		if hooks {
			c.ExtensionManager.Hooks = &egv1a1.ExtensionHooks{XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: []egv1a1.XDSTranslatorHook{egv1a1.XDSRoute}}}
		}
		return c
	}
	run := func(hooks bool) time.Duration {
		t0 := time.Now()
		r, err := Run(Options{Paths: []string{in}, Config: cfg(hooks), To: []string{ToXDS}})
		if err != nil || len(r.Errors) > 0 || len(r.Problems) > 0 {
			b.Fatal(err, r.Errors, r.Problems)
		}
		if _, err := r.Output.Marshal("yaml"); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	var plain, hooked time.Duration
	for i := 0; i < b.N; i++ {
		plain += run(false)
		hooked += run(true)
	}
	if calls.Load() != int64(1000*b.N) {
		b.Fatalf("%d route hook calls for %d runs", calls.Load(), b.N)
	}
	b.ReportMetric(float64(hooked)/float64(plain), "hooked/plain")
	b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "plain-ms")
	b.ReportMetric(float64(hooked.Milliseconds())/float64(b.N), "hooked-ms")
}
