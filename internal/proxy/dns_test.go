package proxy

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	commondnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/common/dns/v3"
	dnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// dnsCluster builds a cluster with the envoy.cluster.dns extension, as
// Envoy Gateway emits it for an FQDN Backend, to the given host:ports.
func egDNSCluster(t *testing.T, dc *dnsv3.DnsCluster, addrs ...string) *clusterv3.Cluster {
	t.Helper()
	tc, err := anypb.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	var eps []*endpointv3.LbEndpoint
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		p, _ := net.LookupPort("tcp", port)
		eps = append(eps, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)}}}}}}})
	}
	return &clusterv3.Cluster{Name: "c",
		ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
			Name: "envoy.cluster.dns", TypedConfig: tc}},
		DnsLookupFamily: clusterv3.Cluster_V4_PREFERRED,
		LoadAssignment:  &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: eps}}},
	}
}

// Envoy Gateway's DNS cluster is accepted with its settings; what the
// proxy cannot do is refused by name or reported as a warning.
func TestCompileDNSCluster(t *testing.T) {
	eg := &dnsv3.DnsCluster{DnsLookupFamily: commondnsv3.DnsLookupFamily_V4_PREFERRED,
		DnsRefreshRate: durationpb.New(30 * time.Second), RespectDnsTtl: true}
	cc, warn, err := compileCluster(egDNSCluster(t, eg, "backend.example:3000"))
	if err != nil {
		t.Fatal(err)
	}
	d := cc.dns
	if d == nil || d.family != familyV4Preferred || d.refresh != 30*time.Second || d.failBase != 30*time.Second ||
		d.failMax != 300*time.Second || d.logical || len(d.targets) != 1 || d.targets[0].host != "backend.example" {
		t.Fatalf("spec = %+v", d)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "respect_dns_ttl") {
		t.Fatalf("warnings = %v", warn)
	}

	cc, _, err = compileCluster(egDNSCluster(t, &dnsv3.DnsCluster{
		DnsFailureRefreshRate: &dnsv3.DnsCluster_RefreshRate{BaseInterval: durationpb.New(time.Second), MaxInterval: durationpb.New(4 * time.Second)},
	}, "a.example:80"))
	if err != nil || cc.dns.refresh != 5*time.Second || cc.dns.failBase != time.Second || cc.dns.failMax != 4*time.Second || cc.dns.family != familyAuto {
		t.Fatalf("defaults and failure rate: %+v %v", cc.dns, err)
	}

	for name, c := range map[string]*clusterv3.Cluster{
		"typed_dns_resolver_config": egDNSCluster(t, &dnsv3.DnsCluster{TypedDnsResolverConfig: &corev3.TypedExtensionConfig{
			Name: "envoy.network.dns_resolver.cares", TypedConfig: &anypb.Any{TypeUrl: "x"}}}, "a.example:80"),
		"greater than 1ms": egDNSCluster(t, &dnsv3.DnsCluster{DnsRefreshRate: durationpb.New(time.Microsecond)}, "a.example:80"),
		"single locality_lb_endpoint": egDNSCluster(t, &dnsv3.DnsCluster{AllAddressesInSingleEndpoint: true},
			"a.example:80", "b.example:80"),
		"envoy.cluster.redis": func() *clusterv3.Cluster {
			c := egDNSCluster(t, &dnsv3.DnsCluster{}, "a.example:80")
			c.GetClusterType().Name = "envoy.cluster.redis"
			return c
		}(),
	} {
		if _, _, err := compileCluster(c); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// fakeResolver answers from a table and counts lookups.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string // "network host" -> addresses; missing: not found
	fail    bool
	lookups int
}

func (f *fakeResolver) set(key string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answers == nil {
		f.answers = map[string][]string{}
	}
	f.answers[key] = addrs
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.fail {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	addrs, ok := f.answers[network+" "+host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// clock is a settable time for refresh decisions.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestDNS(t *testing.T, dc *dnsv3.DnsCluster, r Resolver, addrs ...string) (*dnsCluster, *clock) {
	t.Helper()
	cc, _, err := compileCluster(egDNSCluster(t, dc, addrs...))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1000, 0)}
	return newDNSCluster(cc, r, clk.now), clk
}

func addrsOf(hs []*host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.addr)
	}
	slices.Sort(out)
	return out
}

// Strict DNS: every address of every name is a host, with the name kept
// for auto_host_rewrite; the lookup family picks which records count.
func TestDNSResolution(t *testing.T) {
	r := &fakeResolver{}
	r.set("ip4 a.example", "10.0.0.1", "10.0.0.2")
	r.set("ip6 a.example", "fd00::1")
	r.set("ip6 v6only.example", "fd00::2")
	r.set("ip ab.example", "10.0.0.3", "fd00::3")
	for _, c := range []struct {
		fam  commondnsv3.DnsLookupFamily
		name string
		want []string
	}{
		{commondnsv3.DnsLookupFamily_V4_PREFERRED, "a.example", []string{"10.0.0.1:80", "10.0.0.2:80"}},
		{commondnsv3.DnsLookupFamily_V4_PREFERRED, "v6only.example", []string{"[fd00::2]:80"}},
		{commondnsv3.DnsLookupFamily_AUTO, "a.example", []string{"[fd00::1]:80"}},
		{commondnsv3.DnsLookupFamily_V4_ONLY, "v6only.example", nil},
		{commondnsv3.DnsLookupFamily_ALL, "ab.example", []string{"10.0.0.3:80", "[fd00::3]:80"}},
	} {
		d, _ := newTestDNS(t, &dnsv3.DnsCluster{DnsLookupFamily: c.fam}, r, c.name+":80")
		b := d.balancer()
		if got := addrsOf(b.hosts); !slices.Equal(got, c.want) {
			t.Errorf("%v %s: hosts %v, want %v", c.fam, c.name, got, c.want)
		}
		for _, h := range b.hosts {
			if h.hostname != c.name {
				t.Errorf("host %s has hostname %q, want %q", h.addr, h.hostname, c.name)
			}
		}
	}
	// Logical DNS: the first address only.
	d, _ := newTestDNS(t, &dnsv3.DnsCluster{DnsLookupFamily: commondnsv3.DnsLookupFamily_V4_ONLY, AllAddressesInSingleEndpoint: true}, r, "a.example:80")
	if got := addrsOf(d.balancer().hosts); !slices.Equal(got, []string{"10.0.0.1:80"}) {
		t.Errorf("logical: %v", got)
	}
}

// Answers are reused until the refresh rate has passed; a refresh keeps
// the hosts of unchanged addresses; a failed refresh keeps the last good
// hosts and is retried with exponential back-off up to the maximum.
func TestDNSRefreshAndFailureBackoff(t *testing.T) {
	r := &fakeResolver{}
	r.set("ip4 a.example", "10.0.0.1")
	d, clk := newTestDNS(t, &dnsv3.DnsCluster{DnsLookupFamily: commondnsv3.DnsLookupFamily_V4_ONLY,
		DnsRefreshRate:        durationpb.New(10 * time.Second),
		DnsFailureRefreshRate: &dnsv3.DnsCluster_RefreshRate{BaseInterval: durationpb.New(time.Second), MaxInterval: durationpb.New(3 * time.Second)},
	}, r, "a.example:80")
	first := d.balancer().hosts[0]
	lookups := func() int { r.mu.Lock(); defer r.mu.Unlock(); return r.lookups }
	n := lookups()
	clk.add(9 * time.Second)
	d.balancer()
	if lookups() != n {
		t.Fatal("resolved again before the refresh rate")
	}
	// Due: the pick that notices starts a refresh and gets the old hosts.
	r.set("ip4 a.example", "10.0.0.1", "10.0.0.9")
	clk.add(2 * time.Second)
	<-d.refresh()
	got := d.balancer().hosts
	if addrs := addrsOf(got); !slices.Equal(addrs, []string{"10.0.0.1:80", "10.0.0.9:80"}) {
		t.Fatalf("after refresh: %v", addrs)
	}
	for _, h := range got {
		if h.addr == first.addr && h != first {
			t.Fatal("an unchanged address lost its host (and its connections)")
		}
	}
	// Failures keep the hosts; the next attempts come after 1s, 2s, 3s, 3s.
	r.mu.Lock()
	r.fail = true
	r.mu.Unlock()
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		clk.add(time.Hour)
		<-d.refresh()
		res := d.cur.Load()
		if wait := res.next.Sub(clk.now()); wait != want {
			t.Fatalf("back-off %v, want %v", wait, want)
		}
		if len(res.rt.hosts) != 2 {
			t.Fatalf("a failed refresh dropped the hosts: %v", addrsOf(res.rt.hosts))
		}
	}
	r.mu.Lock()
	r.fail = false
	r.mu.Unlock()
	clk.add(time.Hour)
	<-d.refresh()
	if wait := d.cur.Load().next.Sub(clk.now()); wait != 10*time.Second {
		t.Fatalf("after a success the refresh rate is back: %v", wait)
	}
	// A name that no longer exists has no hosts (an answer, not a failure).
	r.set("ip4 a.example")
	delete(r.answers, "ip4 a.example")
	clk.add(time.Hour)
	<-d.refresh()
	if hs := d.cur.Load().rt.hosts; len(hs) != 0 {
		t.Fatalf("hosts of a removed name: %v", addrsOf(hs))
	}
}

// A cluster that never resolved answers "no healthy upstream" instead of
// waiting again on every pick.
func TestDNSFirstFailure(t *testing.T) {
	r := &fakeResolver{fail: true}
	d, _ := newTestDNS(t, &dnsv3.DnsCluster{}, r, "a.example:80")
	if b := d.balancer(); b.pickOne() != nil {
		t.Fatal("a host without any answer")
	}
	if res := d.cur.Load(); res == nil || len(res.rt.hosts) != 0 || !res.next.After(d.now()) {
		t.Fatal("the failure was not recorded with a retry time")
	}
}

// STRICT_DNS and LOGICAL_DNS read the cluster's own lookup family, whose
// enum is numbered one lower than the extension's.
func TestClusterLookupFamily(t *testing.T) {
	for f, want := range map[clusterv3.Cluster_DnsLookupFamily]dnsFamily{
		clusterv3.Cluster_AUTO: familyAuto, clusterv3.Cluster_V4_ONLY: familyV4Only, clusterv3.Cluster_V6_ONLY: familyV6Only,
		clusterv3.Cluster_V4_PREFERRED: familyV4Preferred, clusterv3.Cluster_ALL: familyAll,
	} {
		if got := clusterFamily(f); got != want {
			t.Errorf("%v: %v, want %v", f, got, want)
		}
	}
}
