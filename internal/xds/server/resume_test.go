package server

import (
	"context"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// edsFleet is one EDS cluster whose endpoint listens on port.
func edsFleet(port uint32) map[resourcev3.Type][]types.Resource {
	c := &clusterv3.Cluster{Name: "a", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{ServiceName: "a", EdsConfig: &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: "a", Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: "10.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}}}}}
	return map[resourcev3.Type][]types.Resource{resourcev3.ClusterType: {c}, resourcev3.EndpointType: {cla}}
}

func versionsOf(t *testing.T, res []types.Resource) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range res {
		b, err := cachev3.MarshalResource(r)
		if err != nil {
			t.Fatal(err)
		}
		out[cachev3.GetResourceName(r)] = cachev3.HashResource(b)
	}
	return out
}

// A proxy that reconnects holding the current configuration is sent
// nothing new for the types it holds, yet serves the fleet's version: here
// the last change moved only the endpoints, so the fleet's version is the
// endpoints' and no response carries it on the new stream. The proxy must
// still count as synced, or the Gateway would stay Programmed=False until
// the next edit.
func TestResumedDeltaProxyHoldingTheNewestTypeIsSynced(t *testing.T) {
	s, addr := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.SetSnapshot(ctx, fleet, edsFleet(8080)); err != nil {
		t.Fatal(err)
	}
	cur := edsFleet(9090)
	r2, err := s.SetSnapshot(ctx, fleet, cur)
	if err != nil || !r2.Changed {
		t.Fatalf("%+v %v", r2, err)
	}
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, addr)).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "envoy-1", Cluster: fleet}
	if err := cli.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType,
		ResourceNamesSubscribe: []string{"*"}, InitialResourceVersions: versionsOf(t, cur[resourcev3.ClusterType])}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Recv() // the wildcard type answers even with nothing new
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResources()) != 0 {
		t.Fatalf("sent %d clusters to a proxy holding them", len(resp.GetResources()))
	}
	if err := cli.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	if err := cli.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"a"},
		InitialResourceVersions: versionsOf(t, cur[resourcev3.EndpointType])}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "the resumed proxy synced to "+r2.Version, func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Synced(r2.Version) })
}

// Over SotW the server answers a new stream's first requests even when
// they quote the versions it serves; once they are ACKed the proxy is
// synced.
func TestResumedSotWProxyHoldingTheNewestTypeIsSynced(t *testing.T) {
	s, addr := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1, err := s.SetSnapshot(ctx, fleet, edsFleet(8080))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.SetSnapshot(ctx, fleet, edsFleet(9090))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, addr)).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "proxy-1", Cluster: fleet}
	// The clusters last changed at r1, the endpoints at r2.
	for _, req := range []*discoveryv3.DiscoveryRequest{{Node: node, TypeUrl: resourcev3.ClusterType, VersionInfo: r1.Version},
		{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"a"}, VersionInfo: r2.Version}} {
		if err := cli.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := cli.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := cli.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(),
			ResponseNonce: resp.GetNonce(), ResourceNames: req.ResourceNames}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, s, "the resumed proxy synced to "+r2.Version, func(ps []Proxy) bool { return len(ps) == 1 && ps[0].Synced(r2.Version) })
}
