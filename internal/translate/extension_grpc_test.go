package translate

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	sdk "github.com/portico-gw/portico/pkg/extension"
	pb "github.com/portico-gw/portico/proto/extension"
)

// refServer is a Route hook that writes the names of the extension
// resources it is handed into a request header, and remembers which route
// it was handed them for.
type refServer struct {
	sdk.Base
	mu   sync.Mutex
	seen map[string][]string // route name -> resource names
}

func (s *refServer) PostRouteModify(_ context.Context, r *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
	var names []string
	for _, res := range r.GetPostRouteContext().GetExtensionResources() {
		o, err := sdk.Decode[sdk.Object](res)
		if err != nil {
			return nil, err
		}
		names = append(names, o.Kind+"/"+o.Metadata.Name)
	}
	s.mu.Lock()
	s.seen[r.GetRoute().GetName()] = names
	s.mu.Unlock()
	route := r.GetRoute()
	route.RequestHeadersToAdd = append(route.RequestHeadersToAdd, &corev3.HeaderValueOption{
		Header: &corev3.HeaderValue{Key: "x-ext", Value: strings.Join(names, ",")}})
	return &pb.PostRouteModifyResponse{Route: route}, nil
}

// TestGRPCRouteExtensionRefReachesRouteHook: a GRPCRoute's extensionRef
// filter of an extension server's kind is handed to the Route hook with
// the routes of its rule, as an HTTPRoute's is (and as Envoy Gateway
// does). One to an object that does not exist makes its rule answer 500
// without reaching the hook and makes ResolvedRefs False; one to a kind
// nobody serves is
// PartiallyInvalid, in Envoy Gateway's words, and its rule answers 500.
func TestGRPCRouteExtensionRefReachesRouteHook(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &refServer{seen: map[string][]string{}}
	s := sdk.Serve(lis, srv)
	defer s.Stop()
	in := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(in, []byte(`apiVersion: gateway.networking.k8s.io/v1
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
metadata: {name: grpc, namespace: default}
spec:
  clusterIP: 10.0.0.1
  ports: [{name: grpc, port: 9000, appProtocol: kubernetes.io/h2c}]
---
apiVersion: example.extensions.io/v1alpha1
kind: RouteContextExample
metadata: {name: ctx, namespace: default}
spec: {header: v}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: default}
spec:
  parentRefs: [{name: eg}]
  rules:
  - matches: [{method: {service: demo.Svc, method: Served}}]
    filters:
    - type: ExtensionRef
      extensionRef: {group: example.extensions.io, kind: RouteContextExample, name: ctx}
    backendRefs: [{name: grpc, port: 9000}]
  - matches: [{method: {service: demo.Svc, method: Missing}}]
    filters:
    - type: ExtensionRef
      extensionRef: {group: example.extensions.io, kind: RouteContextExample, name: nope}
    backendRefs: [{name: grpc, port: 9000}]
  - matches: [{method: {service: demo.Svc, method: Unknown}}]
    filters:
    - type: ExtensionRef
      extensionRef: {group: example.com, kind: Thing, name: t}
    backendRefs: [{name: grpc, port: 9000}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := OfflineDefaults()
	cfg.ExtensionManager = &egv1a1.ExtensionManager{
		Resources: []egv1a1.GroupVersionKind{{Group: "example.extensions.io", Version: "v1alpha1", Kind: "RouteContextExample"}},
		Hooks:     &egv1a1.ExtensionHooks{XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: []egv1a1.XDSTranslatorHook{egv1a1.XDSRoute}}},
		Service:   &egv1a1.ExtensionService{Unix: &egv1a1.UnixSocket{Path: sock}},
	}
	report, err := Run(Options{Paths: []string{in}, Config: cfg, To: []string{ToXDS, ToGatewayAPI}})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Problems) > 0 || len(report.Errors) > 0 || len(report.ExtensionErrors) > 0 {
		t.Fatalf("problems %v errors %v extension errors %v", report.Problems, report.Errors, report.ExtensionErrors)
	}
	data, err := report.Output.Marshal("yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := string(data)

	served := "grpcroute/default/g/rule/0/match/0/*"
	srv.mu.Lock()
	got := srv.seen[served]
	_, missingSeen := srv.seen["grpcroute/default/g/rule/1/match/0/*"]
	srv.mu.Unlock()
	if len(got) != 1 || got[0] != "RouteContextExample/ctx" {
		t.Errorf("the hook got %v for %s, want [RouteContextExample/ctx] (all: %v)", got, served, srv.seen)
	}
	if missingSeen {
		t.Error("the rule whose extensionRef object is missing reached the hook")
	}
	if !strings.Contains(out, "value: RouteContextExample/ctx") {
		t.Errorf("the hook's header is not on the route:\n%s", out)
	}
	// Rules 1 and 2 answer 500 (a third 500 is the ready listener's
	// default route); rule 2's kind is named in the status.
	if n := strings.Count(out, "status: 500"); n != 3 {
		t.Errorf("%d routes answer 500, want 2 (the missing object and the unknown kind):\n%s", n, out)
	}
	for _, want := range []string{"'Rule 2: invalid filter ExtensionRef: unknown kind example.com/Thing.'", "type: PartiallyInvalid",
		"message: 'Reference default/nope not found for filter type: RouteContextExample.'\n        reason: UnsupportedValue\n        status: \"False\"\n        type: ResolvedRefs"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The GRPCRoute is shown as written, its extensionRef filter included.
	if !strings.Contains(out, "kind: RouteContextExample\n") {
		t.Errorf("the GRPCRoute's status output lost its extensionRef filter:\n%s", out)
	}
}
