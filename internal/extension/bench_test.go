package extension

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/resource"
	pb "github.com/portico-gw/portico/proto/extension"
)

// routesYAML is a Gateway with n HTTPRoutes, each with an extensionRef
// filter naming its own RouteContextExample.
func routesYAML(n int) string {
	var b strings.Builder
	b.WriteString(`apiVersion: gateway.networking.k8s.io/v1
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
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
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
	return b.String()
}

func benchSetup(b *testing.B, n int) (*resource.Set, *egv1a1.EnvoyGateway) {
	b.Helper()
	dir := b.TempDir()
	p := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(p, []byte(routesYAML(n)), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionManager = &egv1a1.ExtensionManager{
		Resources: []egv1a1.GroupVersionKind{{Group: "example.extensions.io", Version: "v1alpha1", Kind: "RouteContextExample"}},
		Hooks:     hooksOf(egv1a1.XDSRoute),
	}
	set, probs, err := resource.Load([]string{p}, LoadOptions(cfg)...)
	if err != nil || len(probs) > 0 {
		b.Fatal(err, probs)
	}
	return set, cfg
}

// BenchmarkRouteHook1000 translates 1000 routes (Gateway API -> IR -> xDS)
// without hooks and with the Route hook against a server on a unix socket
// that modifies every route. Target: hooks cost under 2x.
func BenchmarkRouteHook1000(b *testing.B) {
	set, cfg := benchSetup(b, 1000)
	b.Run("no-hooks", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r := pipeline.Run(context.Background(), set, cfg, pipeline.Options{})
			if len(r.Fleets) != 1 || r.Fleets[0].Resources == nil {
				b.Fatal("no xDS")
			}
		}
	})
	srv := &fakeServer{route: func(r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
		rt := r.Route
		rt.RequestHeadersToAdd = append(rt.RequestHeadersToAdd, nil)[:len(rt.RequestHeadersToAdd)]
		rt.Name = rt.Name + "" // answer with a (re-encoded) route: the realistic cost
		return &pb.PostRouteModifyResponse{Route: rt}, nil
	}}
	cfg.ExtensionManager.Service = serveUnix(b, srv)
	m := newManager(b, Options{CallTimeout: 10 * time.Second}, cfg.ExtensionManager)
	b.Run("route-hook", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r := pipeline.Run(context.Background(), set, cfg, pipeline.Options{Extensions: m})
			if len(r.Fleets) != 1 || r.Fleets[0].Resources == nil {
				b.Fatal("no xDS: ", r.Fleets[0].Errors)
			}
		}
	})
	// Interleaved, so that load from other processes hits both sides alike.
	b.Run("ratio", func(b *testing.B) {
		var plain, hooked time.Duration
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			pipeline.Run(context.Background(), set, cfg, pipeline.Options{})
			t1 := time.Now()
			pipeline.Run(context.Background(), set, cfg, pipeline.Options{Extensions: m})
			plain, hooked = plain+t1.Sub(t0), hooked+time.Since(t1)
		}
		b.ReportMetric(float64(hooked)/float64(plain), "hooked/plain")
		b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "plain-ms")
		b.ReportMetric(float64(hooked.Milliseconds())/float64(b.N), "hooked-ms")
	})
	if calls, _ := m.Counts("extension-0", "Route"); calls < 1000 {
		b.Fatalf("%v route hook calls", calls)
	}
}
