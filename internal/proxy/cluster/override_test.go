package cluster_test

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/cluster"
)

func lbEndpoint(ip string, port uint32, hs corev3.HealthStatus) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{HealthStatus: hs, HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}
}

// PickOverride finds a host of the cluster by address, and only among the
// hosts balancing may pick: an unknown or unhealthy address is no host.
func TestPickOverride(t *testing.T) {
	c := &clusterv3.Cluster{Name: "svc", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "svc", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpoint("127.0.0.1", 8001, corev3.HealthStatus_HEALTHY),
				lbEndpoint("127.0.0.1", 8002, corev3.HealthStatus_UNKNOWN),
				lbEndpoint("127.0.0.1", 8003, corev3.HealthStatus_UNHEALTHY),
			}}}}}
	cfg, _, err := cluster.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	cl := cluster.New(cfg, cfg.StaticEndpoints(), cluster.NewPool(nil))
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1:8001", "127.0.0.1:8001"},
		{"127.0.0.1:8002", "127.0.0.1:8002"},
		{"127.0.0.1:8003", ""}, // unhealthy: not a host
		{"127.0.0.1:9999", ""},
		{"", ""},
	} {
		got := ""
		if h := cl.PickOverride(tc.addr); h != nil {
			got = h.Addr()
		}
		if got != tc.want {
			t.Errorf("PickOverride(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// A host outlier detection ejected is not an override host: the session
// moves, as Envoy's override host must be one balancing could pick.
func TestPickOverrideSkipsEjectedHosts(t *testing.T) {
	c := &clusterv3.Cluster{Name: "svc", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		OutlierDetection: &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(1),
			BaseEjectionTime: durationpb.New(time.Hour), MaxEjectionPercent: wrapperspb.UInt32(50)},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "svc", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpoint("127.0.0.1", 8001, corev3.HealthStatus_HEALTHY),
				lbEndpoint("127.0.0.1", 8002, corev3.HealthStatus_HEALTHY),
			}}}}}
	cfg, _, err := cluster.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	cl := cluster.New(cfg, cfg.StaticEndpoints(), cluster.NewPool(nil))
	h := cl.PickOverride("127.0.0.1:8002")
	if h == nil {
		t.Fatal("a healthy host was not found")
	}
	cl.Report(h, 503) // one 5xx ejects it (consecutive_5xx 1), for an hour
	if got := cl.PickOverride("127.0.0.1:8002"); got != nil {
		t.Fatalf("an ejected host was picked: %s", got.Addr())
	}
	if got := cl.PickOverride("127.0.0.1:8001"); got == nil {
		t.Fatal("the other host was lost")
	}
}
