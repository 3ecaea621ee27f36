package proxy

import (
	"fmt"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	commondnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/common/dns/v3"
	dnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
)

// dnsClusterExtension is the cluster_type Envoy Gateway gives every cluster
// whose endpoints are host names (FQDN Backends, the Wasm and JWKS
// clusters): Envoy's DNS cluster extension, which replaced the STRICT_DNS
// and LOGICAL_DNS discovery types.
const (
	dnsClusterExtension = "envoy.cluster.dns"
	dnsClusterType      = "type.googleapis.com/envoy.extensions.clusters.dns.v3.DnsCluster"
)

// Envoy's defaults for DNS clusters.
const (
	defaultDNSRefresh = 5 * time.Second
	// dnsQueryTimeout bounds one resolution (c-ares' default is 5 s).
	dnsQueryTimeout = 5 * time.Second
)

// dnsFamily is Envoy's DnsLookupFamily.
type dnsFamily int

const (
	familyAuto        dnsFamily = iota // AAAA, then A when there is none
	familyV4Only                       // A
	familyV6Only                       // AAAA
	familyV4Preferred                  // A, then AAAA when there is none
	familyAll                          // both, every address is used
)

// dnsSpec is the compiled DNS discovery of a cluster: the host names to
// resolve and how often. Strict DNS (the default) makes every address a
// host; logical DNS (all_addresses_in_single_endpoint, LOGICAL_DNS) uses
// the first address of the one endpoint for new connections.
type dnsSpec struct {
	targets []dnsTarget
	family  dnsFamily
	refresh time.Duration
	// failBase and failMax bound the back-off between failed resolutions
	// (dns_failure_refresh_rate; the refresh rate when not set).
	failBase, failMax time.Duration
	jitter            time.Duration
	logical           bool
	// key identifies the spec: a cluster update that keeps it keeps the
	// resolved hosts and their connections.
	key string
}

// dnsTarget is one endpoint of the load assignment, a name to resolve.
type dnsTarget struct {
	host     string
	port     string
	hostname string // for auto_host_rewrite: the endpoint's hostname, else host
	weight   uint64
	socketMD map[string]string
}

// compileDNS compiles the discovery of a DNS cluster: the envoy.cluster.dns
// extension, or the STRICT_DNS and LOGICAL_DNS types it replaces (whose
// settings are fields of the Cluster itself).
func compileDNS(c *clusterv3.Cluster) (*dnsSpec, []string, error) {
	spec := &dnsSpec{refresh: defaultDNSRefresh}
	var respectTTL bool
	if ct := c.GetClusterType(); ct != nil {
		if ct.GetName() != dnsClusterExtension || ct.GetTypedConfig().GetTypeUrl() != dnsClusterType {
			return nil, nil, fmt.Errorf("cluster_type %s (%s) is not supported; the built-in proxy implements %s",
				ct.GetName(), ct.GetTypedConfig().GetTypeUrl(), dnsClusterExtension)
		}
		var dc dnsv3.DnsCluster
		if err := ct.GetTypedConfig().UnmarshalTo(&dc); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", dnsClusterExtension, err)
		}
		if err := dc.ValidateAll(); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", dnsClusterExtension, err)
		}
		// typed_dns_resolver_config (c-ares or Apple resolver settings)
		// is not accepted: the proxy uses the system resolver.
		if err := checkFields(dnsClusterExtension, &dc, "dns_refresh_rate", "dns_failure_refresh_rate",
			"respect_dns_ttl", "dns_jitter", "dns_lookup_family", "all_addresses_in_single_endpoint",
			"dns_min_refresh_rate"); err != nil {
			return nil, nil, err
		}
		spec.family = commonFamily(dc.GetDnsLookupFamily())
		spec.logical = dc.GetAllAddressesInSingleEndpoint()
		respectTTL = dc.GetRespectDnsTtl()
		setRates(spec, dc.GetDnsRefreshRate().AsDuration(), dc.GetDnsFailureRefreshRate().GetBaseInterval().AsDuration(),
			dc.GetDnsFailureRefreshRate().GetMaxInterval().AsDuration(), dc.GetDnsJitter().AsDuration())
	} else {
		spec.family = clusterFamily(c.GetDnsLookupFamily())
		spec.logical = c.GetType() == clusterv3.Cluster_LOGICAL_DNS
		respectTTL = c.GetRespectDnsTtl()
		setRates(spec, c.GetDnsRefreshRate().AsDuration(), c.GetDnsFailureRefreshRate().GetBaseInterval().AsDuration(),
			c.GetDnsFailureRefreshRate().GetMaxInterval().AsDuration(), c.GetDnsJitter().AsDuration())
	}
	if err := dnsTargets(c, spec); err != nil {
		return nil, nil, err
	}
	var warn []string
	if respectTTL {
		warn = append(warn, fmt.Sprintf("cluster %s: respect_dns_ttl: the system resolver does not report TTLs, so the refresh rate (%s) is used",
			c.GetName(), spec.refresh))
	}
	return spec, warn, nil
}

// setRates applies Envoy's defaults: a refresh rate of 5 s, failures
// retried from the refresh rate (or base) up to ten times the base.
func setRates(spec *dnsSpec, refresh, base, maxBackoff, jitter time.Duration) {
	if refresh > 0 {
		spec.refresh = refresh
	}
	spec.failBase = spec.refresh
	if base > 0 {
		spec.failBase = base
	}
	spec.failMax = 10 * spec.failBase
	if maxBackoff > 0 {
		spec.failMax = max(maxBackoff, spec.failBase)
	}
	spec.jitter = jitter
}

func dnsTargets(c *clusterv3.Cluster, spec *dnsSpec) error {
	cla := c.GetLoadAssignment()
	if cla == nil {
		return fmt.Errorf("cluster %s: a DNS cluster needs load_assignment endpoints", c.GetName())
	}
	set, err := compileEndpoints(cla, false)
	if err != nil {
		return fmt.Errorf("cluster %s: %v", c.GetName(), err)
	}
	for _, e := range set.eps {
		if e.network != "tcp" {
			return fmt.Errorf("cluster %s: DNS endpoint %s is not a host name and port", c.GetName(), e.addr)
		}
		host, port, err := net.SplitHostPort(e.addr)
		if err != nil || host == "" {
			return fmt.Errorf("cluster %s: DNS endpoint %q: want a host name and a port", c.GetName(), e.addr)
		}
		spec.targets = append(spec.targets, dnsTarget{host: host, port: port, hostname: e.hostname, weight: e.weight, socketMD: e.socketMD})
	}
	if spec.logical && len(spec.targets) != 1 {
		// Envoy's rule: one logical host per cluster.
		return fmt.Errorf("cluster %s: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint", c.GetName())
	}
	spec.key = fmt.Sprintf("%d|%d|%d|%d|%d|%t", spec.family, spec.refresh, spec.failBase, spec.failMax, spec.jitter, spec.logical)
	for _, t := range spec.targets {
		spec.key += "|" + t.host + ":" + t.port + "/" + t.hostname + "/" + strconv.FormatUint(t.weight, 10)
	}
	return nil
}

func commonFamily(f commondnsv3.DnsLookupFamily) dnsFamily {
	switch f {
	case commondnsv3.DnsLookupFamily_V4_ONLY:
		return familyV4Only
	case commondnsv3.DnsLookupFamily_V6_ONLY:
		return familyV6Only
	case commondnsv3.DnsLookupFamily_V4_PREFERRED:
		return familyV4Preferred
	case commondnsv3.DnsLookupFamily_ALL:
		return familyAll
	}
	return familyAuto // AUTO, and UNSPECIFIED which defaults to it
}

// clusterFamily reads a STRICT_DNS or LOGICAL_DNS cluster's own field:
// the same values as the extension's enum, which numbers them one higher
// (its 0 is UNSPECIFIED).
func clusterFamily(f clusterv3.Cluster_DnsLookupFamily) dnsFamily {
	return commonFamily(commondnsv3.DnsLookupFamily(f + 1))
}

// isDNSCluster reports whether a cluster resolves host names.
func isDNSCluster(c *clusterv3.Cluster) bool {
	if c.GetClusterType() != nil {
		return true
	}
	t := c.GetType()
	return t == clusterv3.Cluster_STRICT_DNS || t == clusterv3.Cluster_LOGICAL_DNS
}
