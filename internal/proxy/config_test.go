package proxy

import (
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	x "github.com/portico-gw/portico/internal/proxy/xdsclient"
)

// A SotW response resends every cluster: those whose bytes did not change
// keep their compilation, a changed or duplicated one does not.
func TestCompileResourcesReusesUnchangedResources(t *testing.T) {
	cfg := &configs{p: &Proxy{}, memo: map[string]*compileMemo{}}
	pack := func(cs ...*clusterv3.Cluster) []*anypb.Any {
		var out []*anypb.Any
		for _, c := range cs {
			a := &anypb.Any{}
			if err := anypb.MarshalFrom(a, c, proto.MarshalOptions{Deterministic: true}); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		return out
	}
	edsCluster := func(name string, timeout time.Duration) *clusterv3.Cluster {
		return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{ServiceName: name, EdsConfig: &corev3.ConfigSource{
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}},
			ConnectTimeout: durationpb.New(timeout)}
	}
	c1, err := cfg.Compile(x.TypeCDS, pack(edsCluster("a", time.Second), edsCluster("b", time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := cfg.Compile(x.TypeCDS, pack(edsCluster("a", time.Second), edsCluster("b", 7*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if c1[0].Value != c2[0].Value {
		t.Error("unchanged cluster a was compiled again")
	}
	if c1[1].Value == c2[1].Value {
		t.Error("changed cluster b was not compiled again")
	}
	if _, err := cfg.Compile(x.TypeCDS, pack(edsCluster("a", time.Second), edsCluster("a", time.Second))); err == nil ||
		!strings.Contains(err.Error(), "duplicate") {
		t.Errorf("a duplicate served from the memo was accepted: %v", err)
	}
}
