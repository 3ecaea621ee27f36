package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

const fleet = "default/eg"

func startServer(t *testing.T) (*Server, string) {
	t.Helper()
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return s, serve(t, s, nil)
}

// serve serves s on a loopback port (with tlsConfig) until the test ends.
func serve(t *testing.T, s *Server, tlsConfig *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l, tlsConfig) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// clusters returns one EDS-less (STATIC) cluster per name: the smallest
// consistent snapshot.
func clusters(names ...string) map[resourcev3.Type][]types.Resource {
	var rs []types.Resource
	for _, n := range names {
		rs = append(rs, &clusterv3.Cluster{Name: n, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
			LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: n}})
	}
	return map[resourcev3.Type][]types.Resource{resourcev3.ClusterType: rs}
}

// waitFor polls the tracker each time the server signals a change.
func waitFor(t *testing.T, s *Server, what string, cond func([]Proxy) bool) []Proxy {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ps := s.Proxies()
		if cond(ps) {
			return ps
		}
		select {
		case <-s.Changed():
		case <-deadline:
			t.Fatalf("timed out waiting for %s; proxies: %+v", what, ps)
		}
	}
}

func TestSotWACKAndNACK(t *testing.T) {
	s, addr := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1, err := s.SetSnapshot(ctx, fleet, clusters("a"))
	if err != nil || !r1.Changed {
		t.Fatalf("SetSnapshot: %+v %v", r1, err)
	}
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, addr)).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "proxy-1", Cluster: fleet}
	if err := cli.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVersionInfo() != r1.Version || len(resp.GetResources()) != 1 {
		t.Fatalf("first response: version %q (want %q), %d resources", resp.GetVersionInfo(), r1.Version, len(resp.GetResources()))
	}
	ack := &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
	if err := cli.Send(ack); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "ACK of v1", func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Synced(r1.Version) })

	// Same content: no new version, no push.
	if r, _ := s.SetSnapshot(ctx, fleet, clusters("a")); r.Changed || r.Version != r1.Version {
		t.Fatalf("identical snapshot changed the version: %+v", r)
	}

	r2, err := s.SetSnapshot(ctx, fleet, clusters("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = cli.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVersionInfo() != r2.Version {
		t.Fatalf("second response version %q, want %q", resp.GetVersionInfo(), r2.Version)
	}
	nack := &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: r1.Version, ResponseNonce: resp.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: "cluster b: unsupported"}}
	if err := cli.Send(nack); err != nil {
		t.Fatal(err)
	}
	ps := waitFor(t, s, "NACK of v2", func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Rejected() != nil })
	n := ps[0].Rejected()
	if n.Version != r2.Version || n.Detail != "cluster b: unsupported" || n.TypeURL != resourcev3.ClusterType {
		t.Fatalf("NACK = %+v", n)
	}
	if ps[0].Synced(r2.Version) || ps[0].Synced(r1.Version) {
		t.Fatalf("a NACKing proxy counts as synced: %+v", ps[0])
	}

	// The rejected version is not resent: the next response is v3.
	r3, err := s.SetSnapshot(ctx, fleet, clusters("a", "c"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = cli.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVersionInfo() != r3.Version {
		t.Fatalf("after a NACK the server sent %q, want the next version %q", resp.GetVersionInfo(), r3.Version)
	}
	if err := cli.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: r3.Version, ResponseNonce: resp.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "ACK of v3 clears the NACK", func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Synced(r3.Version) })

	cancel()
	waitFor(t, s, "stream close", func(ps []Proxy) bool { return len(ps) == 0 })
}

func TestDeltaACKAndNACK(t *testing.T) {
	s, addr := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1, err := s.SetSnapshot(ctx, fleet, clusters("a"))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, addr)).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "envoy-1", Cluster: fleet}, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResources()) != 1 || resp.GetSystemVersionInfo() != r1.Version {
		t.Fatalf("delta response: %d resources, version %q", len(resp.GetResources()), resp.GetSystemVersionInfo())
	}
	if err := cli.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	ps := waitFor(t, s, "delta ACK", func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Synced(r1.Version) })
	if ps[0].Protocol != "delta" || ps[0].NodeID != "envoy-1" || ps[0].Fleet != fleet {
		t.Fatalf("proxy = %+v", ps[0])
	}
	r2, err := s.SetSnapshot(ctx, fleet, clusters("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = cli.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: "no b"}}); err != nil {
		t.Fatal(err)
	}
	ps = waitFor(t, s, "delta NACK", func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Rejected() != nil })
	if n := ps[0].Rejected(); n.Version != r2.Version || n.Detail != "no b" {
		t.Fatalf("NACK = %+v", n)
	}
}

func TestInconsistentSnapshotKeepsServing(t *testing.T) {
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	r1, err := s.SetSnapshot(ctx, fleet, clusters("a"))
	if err != nil {
		t.Fatal(err)
	}
	// A listener whose HCM names a route configuration that is not there.
	hcm, _ := anypb.New(&hcmv3.HttpConnectionManager{StatPrefix: "x", RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{
		Rds: &hcmv3.Rds{RouteConfigName: "missing", ConfigSource: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{}}}}})
	l := &listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
		Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm}}}}}}
	res := clusters("a")
	res[resourcev3.ListenerType] = []types.Resource{l}
	r, err := s.SetSnapshot(ctx, fleet, res)
	if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v, want ErrInconsistent naming the route", err)
	}
	if r.Changed || s.Version(fleet) != r1.Version {
		t.Fatalf("an inconsistent snapshot replaced %q: %+v, now %q", r1.Version, r, s.Version(fleet))
	}
}

func TestVersionOrder(t *testing.T) {
	if !newerVersion("10-abc", "9-fff") || newerVersion("", "1-a") {
		t.Fatal("versions must order by generation")
	}
}

// A Delta client that reconnects holding exactly the current resources
// (Envoy after a control plane restart) is still sent a response for its
// wildcard subscription, so its ACK shows it serving the current version.
func TestDeltaResumeWithCurrentResources(t *testing.T) {
	s, addr := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := clusters("a", "b")
	r1, err := s.SetSnapshot(ctx, fleet, res)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]string{}
	for _, r := range res[resourcev3.ClusterType] {
		b, err := cachev3.MarshalResource(r)
		if err != nil {
			t.Fatal(err)
		}
		held[cachev3.GetResourceName(r)] = cachev3.HashResource(b)
	}
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, addr)).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "envoy-1", Cluster: fleet},
		TypeUrl: resourcev3.ClusterType, InitialResourceVersions: held}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResources()) != 0 {
		t.Fatalf("a client holding the current resources was sent %d", len(resp.GetResources()))
	}
	if err := cli.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "resumed proxy synced", func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Synced(r1.Version) })

	// Holding something else is not "synced": the server sends the diff.
	cli2, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, addr)).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli2.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "envoy-2", Cluster: fleet},
		TypeUrl: resourcev3.ClusterType, InitialResourceVersions: map[string]string{"a": "stale", "b": held["b"]}}); err != nil {
		t.Fatal(err)
	}
	resp, err = cli2.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResources()) != 1 || resp.GetResources()[0].GetName() != "a" {
		t.Fatalf("diff = %v", resp.GetResources())
	}
	ps := waitFor(t, s, "envoy-2 pending", func(ps []Proxy) bool { return len(ps) == 2 })
	for _, p := range ps {
		if p.NodeID == "envoy-2" && p.Synced(r1.Version) {
			t.Fatal("a proxy holding stale resources counted as synced before its ACK")
		}
	}
}
