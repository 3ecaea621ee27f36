// Package cluster is the built-in proxy's upstream side: CDS clusters and
// EDS load assignments compiled (discovery, balancing, protocol, TLS,
// circuit breakers, outlier detection, DNS), and their runtime: hosts with
// their connection pools (kept across config updates by a Pool), the
// balancers that pick them, and Set, through which the router and the
// filters reach a cluster by name.
package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	lrv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/h1client"
	"github.com/portico-gw/portico/internal/proxy/tlsconf"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

type lbKind int

const (
	lbRoundRobin lbKind = iota
	lbLeastRequest
	lbRandom
)

type upstreamProto int

const (
	protoH1 upstreamProto = iota
	protoH2
	protoALPN       // auto_config: h2 or HTTP/1.1 by ALPN over TLS, else HTTP/1.1
	protoDownstream // use_downstream_protocol_config
)

// Config is a compiled Cluster. It never changes after compilation.
type Config struct {
	name      string
	stats     *Stats
	eds       bool
	edsName   string
	static    *endpointv3.ClusterLoadAssignment // STATIC clusters
	staticSet *Endpoints
	dns       *dnsSpec // DNS clusters (envoy.cluster.dns, STRICT_DNS, LOGICAL_DNS)
	lb        lbKind
	choices   int
	proto     upstreamProto
	tls       *tls.Config
	breakers  breakers
	outlier   *outlierCfg
	tlsSpec   *tlsconf.Spec // set when TLS is configured; SDS-backed specs resolve at assembly
	// matches are the transport_socket_matches (socketmatch.go): TLS per
	// endpoint, which hosts carry.
	matches        []socketMatch
	connectTimeout time.Duration
	// key identifies the transport-relevant config so connection pools
	// survive updates that do not change them.
	key string
}

const (
	httpOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	rrPolicyType   = "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin"
	lrPolicyType   = "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest"
	randPolicyType = "type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random"
)

// Compile compiles a CDS Cluster. The warnings name settings accepted but
// not enforced.
func Compile(c *clusterv3.Cluster) (*Config, []string, error) {
	// circuit_breakers and outlier_detection are accepted because Envoy
	// Gateway emits them on every cluster; what of them is not enforced is
	// reported as warnings, never dropped without a word.
	if err := xdsconf.CheckFields("cluster "+c.GetName(), c, "name", "type", "eds_cluster_config", "load_assignment",
		"connect_timeout", "lb_policy", "load_balancing_policy", "transport_socket", "typed_extension_protocol_options",
		"http2_protocol_options", "http_protocol_options", "common_lb_config", "per_connection_buffer_limit_bytes",
		"dns_lookup_family", "dns_refresh_rate", "respect_dns_ttl", "circuit_breakers", "outlier_detection",
		"cluster_type", "dns_failure_refresh_rate", "dns_jitter",
		"ignore_health_on_host_removal", "alt_stat_name", "metadata", "upstream_connection_options",
		"cleanup_interval", "track_cluster_stats", "close_connections_on_host_health_failure",
		"common_http_protocol_options", "transport_socket_matches"); err != nil {
		return nil, nil, err
	}
	cc := &Config{name: c.GetName(), connectTimeout: 5 * time.Second, choices: 2}
	if c.GetConnectTimeout() != nil {
		cc.connectTimeout = c.GetConnectTimeout().AsDuration()
	}
	var warnings []string
	for _, step := range []func(*Config, *clusterv3.Cluster) ([]string, error){
		compileLimits, compileDiscovery, compileBalancer, compileProtocol, compileTransportSocket, compileSocketMatchesOf,
	} {
		w, err := step(cc, c)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
	}
	ts, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c.GetTransportSocket())
	var tsm []byte
	for _, m := range c.GetTransportSocketMatches() {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		tsm = append(tsm, b...)
	}
	cc.key = fmt.Sprintf("%s|%d|%d|%d|%x|%x", cc.name, cc.proto, cc.connectTimeout, cc.breakers.maxConnections, ts, tsm)
	if cc.dns != nil {
		cc.key += "|dns|" + cc.dns.key
	}
	return cc, warnings, nil
}

// compileLimits reads the circuit breakers and outlier detection.
func compileLimits(cc *Config, c *clusterv3.Cluster) ([]string, error) {
	b, bw, err := compileBreakers(c.GetName(), c.GetCircuitBreakers())
	if err != nil {
		return nil, err
	}
	od, ow, err := compileOutlier(c)
	if err != nil {
		return nil, err
	}
	cc.breakers, cc.outlier = b, od
	return append(bw, ow...), nil
}

// compileDiscovery reads where the endpoints come from: DNS, EDS or the
// cluster's own load assignment.
func compileDiscovery(cc *Config, c *clusterv3.Cluster) ([]string, error) {
	switch {
	case isDNSCluster(c):
		spec, dw, err := compileDNS(c)
		if err != nil {
			return nil, err
		}
		cc.dns = spec
		return dw, nil
	case c.GetType() == clusterv3.Cluster_EDS:
		cc.eds = true
		cc.edsName = c.GetEdsClusterConfig().GetServiceName()
		if cc.edsName == "" {
			cc.edsName = c.GetName()
		}
		if err := xdsconf.CheckADSSource(c.GetEdsClusterConfig().GetEdsConfig()); err != nil {
			return nil, fmt.Errorf("cluster %s: eds_config: %v", c.GetName(), err)
		}
	case c.GetType() == clusterv3.Cluster_STATIC:
		cc.static = c.GetLoadAssignment()
		if cc.static == nil {
			cc.static = &endpointv3.ClusterLoadAssignment{ClusterName: c.GetName()}
		}
		var err error
		if cc.staticSet, err = CompileEndpoints(cc.static, true); err != nil {
			return nil, fmt.Errorf("cluster %s: %v", c.GetName(), err)
		}
	default:
		return nil, fmt.Errorf("cluster %s: discovery type %v is not supported", c.GetName(), c.GetClusterDiscoveryType())
	}
	return nil, nil
}

// compileBalancer reads lb_policy, then the first load_balancing_policy
// Portico supports, which wins (Envoy's rule).
func compileBalancer(cc *Config, c *clusterv3.Cluster) ([]string, error) {
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		cc.lb = lbRoundRobin
	case clusterv3.Cluster_LEAST_REQUEST:
		cc.lb = lbLeastRequest
		if n := c.GetLeastRequestLbConfig().GetChoiceCount(); n != nil {
			cc.choices = int(n.GetValue())
		}
	case clusterv3.Cluster_RANDOM:
		cc.lb = lbRandom
	default:
		return nil, fmt.Errorf("cluster %s: lb_policy %v is not supported", c.GetName(), c.GetLbPolicy())
	}
	if p := c.GetLoadBalancingPolicy(); p != nil {
		if err := compilePolicies(cc, c.GetName(), p); err != nil {
			return nil, err
		}
	}
	if cc.choices < 2 {
		cc.choices = 2
	}
	return nil, nil
}

func compilePolicies(cc *Config, name string, p *clusterv3.LoadBalancingPolicy) error {
	var seen []string
	for _, pol := range p.GetPolicies() {
		tc := pol.GetTypedExtensionConfig().GetTypedConfig()
		seen = append(seen, tc.GetTypeUrl())
		switch tc.GetTypeUrl() {
		case rrPolicyType:
			cc.lb = lbRoundRobin
			return nil
		case randPolicyType:
			cc.lb = lbRandom
			return nil
		case lrPolicyType:
			var lr lrv3.LeastRequest
			if err := tc.UnmarshalTo(&lr); err != nil {
				return fmt.Errorf("cluster %s: least_request: %v", name, err)
			}
			cc.lb = lbLeastRequest
			if lr.GetChoiceCount() != nil {
				cc.choices = int(lr.GetChoiceCount().GetValue())
			}
			return nil
		}
	}
	return fmt.Errorf("cluster %s: no supported load_balancing_policy among %v", name, seen)
}

// compileProtocol reads the upstream HTTP protocol.
func compileProtocol(cc *Config, c *clusterv3.Cluster) ([]string, error) {
	if c.GetHttp2ProtocolOptions() != nil {
		cc.proto = protoH2
	}
	if a, ok := c.GetTypedExtensionProtocolOptions()[httpOptionsKey]; ok {
		if err := compileHTTPOptions(cc, c.GetName(), a); err != nil {
			return nil, err
		}
	}
	for k := range c.GetTypedExtensionProtocolOptions() {
		if k != httpOptionsKey {
			return nil, fmt.Errorf("cluster %s: typed_extension_protocol_options %q is not supported", c.GetName(), k)
		}
	}
	return nil, nil
}

// compileHTTPOptions reads the upstreams' HttpProtocolOptions.
func compileHTTPOptions(cc *Config, name string, a *anypb.Any) error {
	var o httpv3.HttpProtocolOptions
	if err := a.UnmarshalTo(&o); err != nil {
		return fmt.Errorf("cluster %s: %s: %v", name, httpOptionsKey, err)
	}
	if err := xdsconf.CheckFields("cluster "+name+" HttpProtocolOptions", &o, "common_http_protocol_options",
		"upstream_http_protocol_options", "explicit_http_config", "use_downstream_protocol_config", "auto_config"); err != nil {
		return err
	}
	switch {
	case o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil:
		cc.proto = protoH2
	case o.GetExplicitHttpConfig().GetHttp3ProtocolOptions() != nil:
		return fmt.Errorf("cluster %s: HTTP/3 upstreams are not supported", name)
	case o.GetUseDownstreamProtocolConfig() != nil:
		cc.proto = protoDownstream
	case o.GetAutoConfig() != nil:
		cc.proto = protoALPN
	}
	return nil
}

// compileTransportSocket reads the upstream TLS; its tls.Config is made
// now unless it waits for SDS secrets (WithSecrets).
func compileTransportSocket(cc *Config, c *clusterv3.Cluster) ([]string, error) {
	sp, tlsWarn, err := tlsconf.Upstream(c.GetTransportSocket())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %v", c.GetName(), err)
	}
	if sp == nil {
		return tlsWarn, nil
	}
	setALPN(sp, cc.proto)
	cc.tlsSpec = sp
	if len(sp.SDSNames()) == 0 {
		if cc.tls, _, err = sp.ClientConfig(nil); err != nil {
			return nil, fmt.Errorf("cluster %s: %v", c.GetName(), err)
		}
	}
	return tlsWarn, nil
}

// compileSocketMatchesOf reads the transport_socket_matches, after the
// protocol (their TLS offers its ALPN).
func compileSocketMatchesOf(cc *Config, c *clusterv3.Cluster) ([]string, error) {
	matches, warnings, err := compileSocketMatches(c, cc.proto)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %v", c.GetName(), err)
	}
	cc.matches = matches
	return warnings, nil
}

// newTransport builds the connection pool for one upstream host: h1client
// for plaintext HTTP/1.1, net/http's Transport for HTTP/2 and TLS (and
// behind h1client for upgrades). tc is the host's TLS (its transport
// socket; nil: plaintext).
func newTransport(cc *Config, tc *tls.Config, network, addr string, h2 bool) http.RoundTripper {
	if !h2 && tc == nil {
		return h1client.NewPool(network, addr, cc.connectTimeout, cc.breakers.maxConnections,
			func() http.RoundTripper { return newNetTransport(cc, tc, network, addr, false) })
	}
	return newNetTransport(cc, tc, network, addr, h2)
}

func newNetTransport(cc *Config, tc *tls.Config, network, addr string, h2 bool) http.RoundTripper {
	d := &net.Dialer{Timeout: cc.connectTimeout, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, network, addr) }
	t := &http.Transport{
		DialContext:         dial,
		MaxIdleConnsPerHost: 1024,
		MaxConnsPerHost:     cc.breakers.maxConnections,
		IdleConnTimeout:     time.Hour,
		DisableCompression:  true,
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   tc != nil && (cc.proto == protoALPN || h2),
		// A proxy passes Expect: 100-continue through; it is not ours.
		ExpectContinueTimeout:  0,
		MaxResponseHeaderBytes: h1client.MaxResponseHeader,
	}
	p := new(http.Protocols)
	switch {
	case h2 && tc == nil:
		p.SetUnencryptedHTTP2(true)
	case h2:
		p.SetHTTP2(true)
	case cc.proto == protoALPN && tc != nil:
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	default:
		p.SetHTTP1(true)
	}
	t.Protocols = p
	return t
}

// endpointAddr returns the dial network and address of an endpoint.
func endpointAddr(a *corev3.Address) (network, addr string, err error) {
	switch x := a.GetAddress().(type) {
	case *corev3.Address_SocketAddress:
		sa := x.SocketAddress
		if sa.GetProtocol() != corev3.SocketAddress_TCP {
			return "", "", fmt.Errorf("endpoint %s: only TCP is supported", sa.GetAddress())
		}
		if sa.GetNamedPort() != "" {
			return "", "", fmt.Errorf("endpoint %s: named ports are not supported", sa.GetAddress())
		}
		return "tcp", net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))), nil
	case *corev3.Address_Pipe:
		return "unix", x.Pipe.GetPath(), nil
	default:
		return "", "", fmt.Errorf("endpoint address %T is not supported", x)
	}
}

// EDSName is the load assignment the cluster subscribes to over EDS, ""
// when it is not an EDS cluster.
func (cc *Config) EDSName() string {
	if !cc.eds {
		return ""
	}
	return cc.edsName
}

// SDSNames are the secrets the cluster's transport sockets need (its own
// and its transport_socket_matches').
func (cc *Config) SDSNames() []string {
	return append(cc.tlsSpec.SDSNames(), matchSDSNames(cc.matches)...)
}

// StaticEndpoints are a STATIC cluster's endpoints (nil for others).
func (cc *Config) StaticEndpoints() *Endpoints { return cc.staticSet }

// WithSecrets returns the cluster config with SDS-backed TLS resolved, or
// an error when a secret is missing.
func (cc *Config) WithSecrets(secrets map[string]*tlsconf.Secret) (*Config, error) {
	if len(cc.SDSNames()) == 0 {
		return cc, nil
	}
	out := *cc
	if cc.tlsSpec != nil && len(cc.tlsSpec.SDSNames()) > 0 {
		tc, version, err := cc.tlsSpec.ClientConfig(secrets)
		if err != nil {
			return nil, err
		}
		out.tls = tc
		out.key += "|" + version
	}
	matches, version, err := resolveMatches(cc.matches, secrets)
	if err != nil {
		return nil, err
	}
	out.matches = matches
	out.key += "|" + version
	return &out, nil
}
