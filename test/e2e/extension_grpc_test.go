package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	sdk "github.com/portico-gw/portico/pkg/extension"
)

// TestGRPCRouteExtensionRefOnTraffic: a GRPCRoute rule with an extensionRef
// filter of the extension server's kind reaches the Route hook, whose
// change (a response header naming the object) is on real gRPC responses
// through the built-in proxy; a rule whose extensionRef object does not
// exist answers 500 (gRPC Unknown).
func TestGRPCRouteExtensionRefOnTraffic(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := sdk.Serve(lis, headerHooks{tag: "hook"})
	defer s.Stop()
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionManager = &egv1a1.ExtensionManager{
		Resources: []egv1a1.GroupVersionKind{{Group: "example.extensions.io", Version: "v1alpha1", Kind: "RouteContextExample"}},
		Hooks:     &egv1a1.ExtensionHooks{XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: []egv1a1.XDSTranslatorHook{egv1a1.XDSRoute}}},
		Service:   &egv1a1.ExtensionService{Unix: &egv1a1.UnixSocket{Path: sock}},
	}
	be := healthBackend(t, healthpb.HealthCheckResponse_SERVING)
	gw := freePort(t)
	e := startWith(t, cfg, map[string]string{"grpc.yaml": classAndServices(map[string]int{"grpc": be}) + fmt.Sprintf(`---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: grpc, protocol: HTTP, port: %d}]
---
apiVersion: example.extensions.io/v1alpha1
kind: RouteContextExample
metadata: {name: ctx, namespace: default}
spec: {}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: health, namespace: default}
spec:
  parentRefs: [{name: eg}]
  rules:
    - matches: [{method: {service: grpc.health.v1.Health, method: Check}}]
      filters:
        - type: ExtensionRef
          extensionRef: {group: example.extensions.io, kind: RouteContextExample, name: ctx}
      backendRefs: [{name: grpc, port: %d}]
    - matches: [{method: {service: missing.Svc}}]
      filters:
        - type: ExtensionRef
          extensionRef: {group: example.extensions.io, kind: RouteContextExample, name: nope}
      backendRefs: [{name: grpc, port: %d}]
`, gw, be, be)}, gw)

	conn, ctx := gatewayConn(t, gw)
	var md metadata.MD
	e.eventually("Check through the hooked route", func() bool {
		md = nil
		r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"}, grpc.Header(&md))
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	if got := strings.Join(md.Get("x-route-hook"), ","); got != "hook:ctx" {
		t.Errorf("x-route-hook %q, want hook:ctx (the Route hook handed the GRPCRoute's extensionRef object)", got)
	}
	err = conn.Invoke(ctx, "/missing.Svc/Get", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(err) != codes.Unknown {
		t.Errorf("the rule with a missing extensionRef object: want Unknown (500), got %v", err)
	}
}
