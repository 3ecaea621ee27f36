package translator

import (
	"fmt"
	"net"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	commondnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/common/dns/v3"
	dnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	lbcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portico-gw/portico/internal/ir"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// clusterSpec is one Envoy cluster to build: its name, backends and the
// metadata of the object it comes from.
type clusterSpec struct {
	name     string
	settings []*ir.DestinationSetting
	metadata *ir.ResourceMetadata
	// systemTLSSNI, when set, makes the cluster TLS to that server name,
	// verified against the system trust store (Envoy Gateway's clusters
	// for https JWKS and OIDC URIs).
	systemTLSSNI string
}

// addCluster builds the cluster (and its EDS load assignment and secrets)
// of spec into s, once per name.
func addCluster(spec clusterSpec, s *Sink) error {
	if s.HasCluster(spec.name) {
		s.memo.usedCluster(spec.name)
		return nil
	}
	if s.memo != nil {
		s.memo.inAddCluster = true
		defer func() { s.memo.inAddCluster = false }()
	}
	c, cla, err := buildClusterMemo(spec, s)
	if err != nil {
		return err
	}
	s.AddCluster(c, cla)
	s.memo.usedCluster(spec.name)
	return nil
}

func buildCluster(spec clusterSpec, s *Sink) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment, error) {
	dns, err := isDNS(spec.settings)
	if err != nil {
		return nil, nil, err
	}
	cla, err := loadAssignment(spec.name, spec.settings)
	if err != nil {
		return nil, nil, err
	}
	c := &clusterv3.Cluster{
		Name:                          spec.name,
		ConnectTimeout:                durationpb.New(10 * time.Second),
		PerConnectionBufferLimitBytes: wrapUint32(bufferLimit),
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxRetries: wrapUint32(1024),
		}}},
		CommonLbConfig:            &clusterv3.Cluster_CommonLbConfig{},
		DnsLookupFamily:           clusterv3.Cluster_V4_PREFERRED,
		IgnoreHealthOnHostRemoval: true,
		LoadBalancingPolicy:       leastRequestPolicy(),
		Metadata:                  resourceMetadata(spec.metadata),
	}
	if dns {
		c.ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
			Name: "envoy.cluster.dns",
			TypedConfig: mustAny(&dnsv3.DnsCluster{
				DnsLookupFamily: commondnsv3.DnsLookupFamily_V4_PREFERRED,
				DnsRefreshRate:  durationpb.New(30 * time.Second),
				RespectDnsTtl:   true,
			}),
		}}
		c.LoadAssignment = cla
		cla = nil
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{
			ServiceName: spec.name,
			EdsConfig: &corev3.ConfigSource{
				ResourceApiVersion:    corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
		}
	}
	if usesHTTP2(spec.settings) {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: http2Options(false)},
			}},
		})}
	}
	if err := addUpstreamTLS(c, spec, s); err != nil {
		return nil, nil, err
	}
	if spec.systemTLSSNI != "" {
		c.TransportSocket = &corev3.TransportSocket{
			Name: tlsTransportSocket,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
				Sni: spec.systemTLSSNI,
				CommonTlsContext: &tlsv3.CommonTlsContext{
					TlsParams: &tlsv3.TlsParameters{TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
					ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
						TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: systemTrustStore}},
					}},
				},
			})},
		}
	}
	return c, cla, nil
}

func leastRequestPolicy() *clusterv3.LoadBalancingPolicy {
	return &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{
			Name: "envoy.load_balancing_policies.least_request",
			TypedConfig: mustAny(&leastrequestv3.LeastRequest{
				LocalityLbConfig: &lbcommonv3.LocalityLbConfig{
					LocalityConfigSpecifier: &lbcommonv3.LocalityLbConfig_LocalityWeightedLbConfig_{
						LocalityWeightedLbConfig: &lbcommonv3.LocalityLbConfig_LocalityWeightedLbConfig{},
					},
				},
			}),
		},
	}}}
}

func usesHTTP2(settings []*ir.DestinationSetting) bool {
	for _, st := range settings {
		if st.Protocol == "HTTP2" || st.Protocol == "GRPC" {
			return true
		}
	}
	return false
}

// endpointKind is "ip" (addresses and unix sockets, served over EDS) or
// "fqdn" (resolved by Envoy, a DNS cluster).
func endpointKind(st *ir.DestinationSetting, ep *ir.DestinationEndpoint) string {
	if ep.Path != nil {
		return "ip"
	}
	if st.AddressType != nil {
		switch *st.AddressType {
		case "FQDN":
			return "fqdn"
		case "IP":
			return "ip"
		}
	}
	if net.ParseIP(ep.Host) == nil {
		return "fqdn"
	}
	return "ip"
}

// isDNS reports whether the backends are host names; mixing host names
// with addresses in one cluster is an error.
func isDNS(settings []*ir.DestinationSetting) (bool, error) {
	kind := ""
	for _, st := range settings {
		for _, ep := range st.Endpoints {
			k := endpointKind(st, ep)
			if kind != "" && k != kind {
				return false, fmt.Errorf("backend %q mixes IP and FQDN endpoints in one cluster", st.Name)
			}
			kind = k
		}
	}
	return kind == "fqdn", nil
}

// settingKind is the endpoint kind of a setting ("" when it has none).
func settingKind(st *ir.DestinationSetting) string {
	for _, ep := range st.Endpoints {
		return endpointKind(st, ep)
	}
	return ""
}
