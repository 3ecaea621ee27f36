package translate

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/portico-gw/portico/examples/extension-server/server"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/resource"
	sdk "github.com/portico-gw/portico/pkg/extension"
	pb "github.com/portico-gw/portico/proto/extension"
)

// TestExtensionServerScenario is the guide's scenario offline: the example
// server adds basic_auth with the users of the ListenerContextExample
// attached to the Gateway (`x translate --extension-server`).
func TestExtensionServerScenario(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := sdk.Serve(lis, &server.Server{})
	defer s.Stop()
	cfgData, err := os.ReadFile("../../examples/extension-server/envoy-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := resource.ParseConfig("envoy-gateway.yaml", cfgData)
	if err != nil {
		t.Fatal(err)
	}
	report, err := Run(Options{
		Paths: []string{"../../examples/extension-server/example.yaml"}, Config: cfg,
		To: []string{ToXDS, ToGatewayAPI}, ExtensionServer: "unix://" + sock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Problems) > 0 || len(report.Errors) > 0 {
		t.Fatalf("problems %v errors %v", report.Problems, report.Errors)
	}
	data, err := report.Output.Marshal("yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := string(data)
	for _, want := range []string{"envoy.filters.http.basic_auth", "forwardUsernameHeader: X-Example-Ext"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The users the server added are in the filter, but a dump shows them
	// as Envoy's config_dump does (BasicAuth.users is sensitive); the e2e
	// extension test shows the proxy enforcing them.
	if strings.Contains(out, "user:{SHA}") || !strings.Contains(out, "users:\n") || !strings.Contains(out, "inlineString: '[redacted]'") {
		t.Errorf("the filter's users must be present and redacted:\n%s", out)
	}
}

// TestExtensionFailureKeepsNothing: with the server down and failOpen
// false, the fleet has no resources (the server keeps the last good ones)
// and the Gateway says why.
func TestExtensionFailureMarksGateway(t *testing.T) {
	cfgData, _ := os.ReadFile("../../examples/extension-server/envoy-gateway.yaml")
	cfg, err := resource.ParseConfig("envoy-gateway.yaml", cfgData)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ExtensionManager.Service.Unix.Path = filepath.Join(t.TempDir(), "nobody.sock")
	set, _, err := resource.Load([]string{"../../examples/extension-server/example.yaml"}, extensionLoadOptions(cfg)...)
	if err != nil {
		t.Fatal(err)
	}
	hooks, closeFn, err := extensionHooks("", cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	r := pipeline.Run(set, cfg, pipeline.Options{Extensions: hooks})
	f := r.Fleet("default/eg")
	if f == nil || f.Resources != nil || f.ExtensionError == "" {
		t.Fatalf("fleet %+v", f)
	}
	found := false
	for _, c := range r.Gateway.Gateways[0].Status.Conditions {
		if c.Type == "Programmed" && c.Reason == pipeline.ReasonExtensionError {
			found = true
		}
	}
	if !found {
		t.Errorf("gateway conditions %+v", r.Gateway.Gateways[0].Status.Conditions)
	}
}

// customBackendRun translates input (the Gateway is added) with an
// extension server whose Cluster hook fills in S3Backend clusters, and
// returns the output and what the hook saw: the backend's name and how many
// backend objects it was handed.
func customBackendRun(t *testing.T, input string) (out, backend string, handed int64) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ext.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Value
	var count atomic.Int64
	s := sdk.Serve(lis, &clusterServer{got: &got, count: &count})
	defer s.Stop()
	cfg, err := resource.ParseConfig("eg.yaml", []byte(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyGateway
extensionManager:
  backendResources:
    - {group: example.extensions.io, version: v1alpha1, kind: S3Backend}
  hooks:
    xdsTranslator:
      post: [Cluster]
  service:
    unix: {path: `+sock+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in.yaml")
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
apiVersion: example.extensions.io/v1alpha1
kind: S3Backend
metadata: {name: bucket, namespace: default}
spec: {bucket: my-bucket}
---
`+input), 0o600); err != nil {
		t.Fatal(err)
	}
	report, err := Run(Options{Paths: []string{in}, Config: cfg, To: []string{ToXDS}})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Problems) > 0 || len(report.Errors) > 0 {
		t.Fatalf("problems %v errors %v", report.Problems, report.Errors)
	}
	data, _ := report.Output.Marshal("yaml")
	name, _ := got.Load().(string)
	return string(data), name, count.Load()
}

// TestCustomBackendClusterHook: an HTTPRoute backendRef of a
// backendResources kind becomes a cluster that the Cluster hook receives
// with the backend object, and fills in. Two matches and two hostnames
// make four routes of the rule: the backend is still handed over once.
func TestCustomBackendClusterHook(t *testing.T) {
	out, backend, handed := customBackendRun(t, `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: files, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [a.example.com, b.example.com]
  rules:
  - backendRefs: [{group: example.extensions.io, kind: S3Backend, name: bucket}]
    matches: [{path: {type: PathPrefix, value: /a}}, {path: {type: PathPrefix, value: /b}}]
`)
	if backend != "bucket" || handed != 1 {
		t.Errorf("cluster hook got backend %q %d times, want bucket once", backend, handed)
	}
	if !strings.Contains(out, "s3.example.com") || !strings.Contains(out, "cluster: httproute/default/files/rule/0") {
		t.Errorf("custom backend cluster not filled in:\n%s", out)
	}
}

// A rule mixing a Service and a custom backend has a destination that all
// its routes (matches times hostnames) share: the custom backend must
// reach the Cluster hook once, not once per route.
func TestMixedCustomBackendReachesTheHookOnce(t *testing.T) {
	_, backend, handed := customBackendRun(t, `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.0.0.9
  ports: [{name: http, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: files, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [a.example.com, b.example.com]
  rules:
  - backendRefs: [{name: web, port: 8080}, {group: example.extensions.io, kind: S3Backend, name: bucket}]
    matches: [{path: {type: PathPrefix, value: /a}}, {path: {type: PathPrefix, value: /b}}]
`)
	if backend != "bucket" || handed != 1 {
		t.Errorf("cluster hook got backend %q %d times, want bucket once", backend, handed)
	}
}

type clusterServer struct {
	sdk.Base
	got   *atomic.Value
	count *atomic.Int64
}

func (s *clusterServer) PostClusterModify(_ context.Context, req *pb.PostClusterModifyRequest) (*pb.PostClusterModifyResponse, error) {
	type s3 struct {
		sdk.Object
	}
	s.count.Store(int64(len(req.GetPostClusterContext().GetBackendExtensionResources())))
	for _, r := range req.GetPostClusterContext().GetBackendExtensionResources() {
		b, err := sdk.Decode[s3](r)
		if err != nil {
			return nil, err
		}
		s.got.Store(b.Metadata.Name)
	}
	c := req.GetCluster()
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
	c.EdsClusterConfig = nil
	c.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: c.Name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: "s3.example.com", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 443}}}},
		}}}},
	}}}
	return &pb.PostClusterModifyResponse{Cluster: c}, nil
}
