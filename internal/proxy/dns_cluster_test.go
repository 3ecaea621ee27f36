package proxy_test

import (
	"net"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	commondnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/common/dns/v3"
	dnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The cluster Envoy Gateway emits for an FQDN Backend (cluster_type
// envoy.cluster.dns with its DnsCluster settings) is accepted and serves:
// the name is resolved by the system resolver, and auto_host_rewrite
// sends the name, not the address.
func TestEnvoyGatewayDNSCluster(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	_, p, _ := net.SplitHostPort(backend(t, "dns"))
	tc, err := anypb.New(&dnsv3.DnsCluster{DnsLookupFamily: commondnsv3.DnsLookupFamily_V4_PREFERRED,
		DnsRefreshRate: durationpb.New(30 * time.Second), RespectDnsTtl: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &clusterv3.Cluster{Name: "dns", ConnectTimeout: durationpb.New(10 * time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
			Name: "envoy.cluster.dns", TypedConfig: tc}},
		DnsLookupFamily: clusterv3.Cluster_V4_PREFERRED,
		LoadAssignment:  cla("dns", "localhost:"+p)}
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: prefix("/"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier:     &routev3.RouteAction_Cluster{Cluster: "dns"},
			HostRewriteSpecifier: &routev3.RouteAction_AutoHostRewrite{AutoHostRewrite: wrapperspb.Bool(true)}}}}}}}}
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {listener("l", port, "rc", nil)},
		resourcev3.RouteType:    {rc},
		resourcev3.ClusterType:  {c},
	})
	r := get(t, port, "x", "/")
	if r.code != 200 || r.echo.Backend != "dns" || r.echo.Host != "localhost" {
		t.Fatalf("through the DNS cluster: %d %q host %q", r.code, r.body, r.echo.Host)
	}
}
