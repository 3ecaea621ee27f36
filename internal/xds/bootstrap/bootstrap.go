// Package bootstrap builds the Envoy bootstrap Envoy Gateway gives its
// proxies: ADS (delta gRPC) to the control plane, admin on localhost, the
// Prometheus stats listener, the local_cluster for zone-aware routing and
// the overload manager's connection limit. It is a pure function of Options.
package bootstrap

import (
	"slices"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/config/metrics/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	lbcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	dcv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Options parameterize the bootstrap.
type Options struct {
	// XDSHost and XDSPort are the control plane's ADS server.
	XDSHost string
	XDSPort uint32
	// XDSTLS, when set, makes the proxy talk TLS to the control plane with
	// the certificate and CA read from these SDS files (Envoy Gateway's
	// /sds/xds-certificate.json and /sds/xds-trusted-ca.json).
	XDSTLS *TLSFiles
	// AdminAddress and AdminPort are Envoy's admin interface.
	AdminAddress string
	AdminPort    uint32
	// StatsAddress and StatsPort serve /stats/prometheus.
	StatsAddress string
	StatsPort    uint32
	// DisablePrometheus leaves the stats listener and its prometheus_stats
	// cluster out (EnvoyProxy telemetry.metrics.prometheus.disable), as
	// Envoy Gateway does.
	DisablePrometheus bool
	// MaxDownstreamConnections is the overload manager's global limit.
	MaxDownstreamConnections int64
}

// TLSFiles are SDS file paths for the xDS client certificate and CA.
type TLSFiles struct {
	CertificatePath string
	TrustedCAPath   string
}

// EnvoyGatewayDefaults are the values Envoy Gateway uses in Kubernetes.
func EnvoyGatewayDefaults() Options {
	return Options{
		XDSHost:                  "envoy-gateway",
		XDSPort:                  18000,
		XDSTLS:                   &TLSFiles{CertificatePath: "/sds/xds-certificate.json", TrustedCAPath: "/sds/xds-trusted-ca.json"},
		AdminAddress:             "127.0.0.1",
		AdminPort:                19000,
		StatsAddress:             "0.0.0.0",
		StatsPort:                19001,
		MaxDownstreamConnections: 50000,
	}
}

func anyOf(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err) // linked-in types only
	}
	return a
}

func sockAddr(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func ads(fetchTimeout bool) *corev3.ConfigSource {
	c := &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
	if fetchTimeout {
		c.InitialFetchTimeout = durationpb.New(0)
	}
	return c
}

// Build returns the bootstrap for o.
func Build(o Options) *bootstrapv3.Bootstrap {
	return &bootstrapv3.Bootstrap{
		Admin: &bootstrapv3.Admin{
			Address: sockAddr(o.AdminAddress, o.AdminPort),
			AccessLog: []*accesslogV3{{
				Name:       "envoy.access_loggers.file",
				ConfigType: &accesslogTyped{TypedConfig: anyOf(&filev3.FileAccessLog{Path: "/dev/null"})},
			}},
		},
		ClusterManager:      &bootstrapv3.ClusterManager{LocalClusterName: "local_cluster"},
		DeferredStatOptions: &bootstrapv3.Bootstrap_DeferredStatOptions{EnableDeferredCreationStats: true},
		DynamicResources:    dynamicResources(),
		LayeredRuntime:      layeredRuntime(),
		Node:                &corev3.Node{Locality: &corev3.Locality{Zone: "$(ENVOY_SERVICE_ZONE)"}},
		OverloadManager:     overloadManager(o.MaxDownstreamConnections),
		StaticResources:     staticResources(o),
		StatsConfig:         statsConfig(),
	}
}

// staticResources are the bootstrap's own listener and clusters.
func staticResources(o Options) *bootstrapv3.Bootstrap_StaticResources {
	clusters := staticClusters(o)
	if o.DisablePrometheus {
		clusters = slices.DeleteFunc(clusters, func(c *clusterv3.Cluster) bool { return c.Name == "prometheus_stats" })
		return &bootstrapv3.Bootstrap_StaticResources{Clusters: clusters}
	}
	return &bootstrapv3.Bootstrap_StaticResources{Clusters: clusters, Listeners: []*listenerv3.Listener{statsListener(o)}}
}

func dynamicResources() *bootstrapv3.Bootstrap_DynamicResources {
	return &bootstrapv3.Bootstrap_DynamicResources{
		AdsConfig: &corev3.ApiConfigSource{
			ApiType:                   corev3.ApiConfigSource_DELTA_GRPC,
			TransportApiVersion:       corev3.ApiVersion_V3,
			SetNodeOnFirstMessageOnly: true,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "xds_cluster"},
			}}},
		},
		CdsConfig: ads(true),
		LdsConfig: ads(true),
	}
}

func layeredRuntime() *bootstrapv3.LayeredRuntime {
	return &bootstrapv3.LayeredRuntime{Layers: []*bootstrapv3.RuntimeLayer{{
		Name: "global_config",
		LayerSpecifier: &bootstrapv3.RuntimeLayer_StaticLayer{StaticLayer: &structpb.Struct{Fields: map[string]*structpb.Value{
			"re2.max_program_size.error_level": structpb.NewNumberValue(4294967295),
			"re2.max_program_size.warn_level":  structpb.NewNumberValue(1000),
		}}},
	}}}
}

func overloadManager(maxConns int64) *overloadv3.OverloadManager {
	return &overloadv3.OverloadManager{
		RefreshInterval: durationpb.New(250 * time.Millisecond),
		ResourceMonitors: []*overloadv3.ResourceMonitor{{
			Name: "envoy.resource_monitors.global_downstream_max_connections",
			ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: anyOf(&dcv3.DownstreamConnectionsConfig{
				MaxActiveDownstreamConnections: maxConns,
			})},
		}},
	}
}

func staticClusters(o Options) []*clusterv3.Cluster {
	prom := &clusterv3.Cluster{
		Name:                 "prometheus_stats",
		ConnectTimeout:       durationpb.New(250 * time.Millisecond),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "prometheus_stats", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(o.AdminAddress, o.AdminPort)}}}},
		}}},
	}
	local := &clusterv3.Cluster{
		Name:                 "local_cluster",
		ConnectTimeout:       durationpb.New(10 * time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{ServiceName: "local_cluster", EdsConfig: ads(false)},
		LoadBalancingPolicy: &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
			TypedExtensionConfig: &corev3.TypedExtensionConfig{
				Name: "envoy.load_balancing_policies.least_request",
				TypedConfig: anyOf(&leastrequestv3.LeastRequest{LocalityLbConfig: &lbcommonv3.LocalityLbConfig{
					LocalityConfigSpecifier: &lbcommonv3.LocalityLbConfig_ZoneAwareLbConfig_{ZoneAwareLbConfig: &lbcommonv3.LocalityLbConfig_ZoneAwareLbConfig{
						MinClusterSize: wrapperspb.UInt64(1),
					}},
				}}),
			},
		}}},
	}
	xds := &clusterv3.Cluster{
		Name:                 "xds_cluster",
		ConnectTimeout:       durationpb.New(10 * time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "xds_cluster", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LoadBalancingWeight: wrapperspb.UInt32(1),
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(o.XDSHost, o.XDSPort)}},
				LoadBalancingWeight: wrapperspb.UInt32(1),
			}},
		}}},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": anyOf(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
					ConnectionKeepalive: &corev3.KeepaliveSettings{Interval: durationpb.New(30 * time.Second), Timeout: durationpb.New(5 * time.Second)},
				}},
			}},
		})},
	}
	if o.XDSTLS != nil {
		xds.TransportSocket = &corev3.TransportSocket{
			Name: "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: anyOf(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsParams:                      &tlsv3.TlsParameters{TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{fileSDS("xds_certificate", o.XDSTLS.CertificatePath)},
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
					ValidationContextSdsSecretConfig: fileSDS("xds_trusted_ca", o.XDSTLS.TrustedCAPath),
				},
			}})},
		}
	}
	return []*clusterv3.Cluster{prom, local, xds}
}

func fileSDS(name, path string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{Path: path}},
	}}
}

func statsListener(o Options) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:    "eg-stats-http",
		NormalizePath: wrapperspb.Bool(true),
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: anyOf(&routerv3.Router{})},
		}},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: "local_route",
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    "prometheus_stats",
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match: &routev3.RouteMatch{
						PathSpecifier: &routev3.RouteMatch_Path{Path: "/stats/prometheus"},
						Headers: []*routev3.HeaderMatcher{{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
							StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "GET"}},
						}}},
					},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "prometheus_stats"}}},
				}},
			}},
		}},
	}
	return &listenerv3.Listener{
		Name:                  "envoy-gateway-proxy-stats-" + o.StatsAddress + "-" + itoa(o.StatsPort),
		Address:               sockAddr(o.StatsAddress, o.StatsPort),
		BypassOverloadManager: true,
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: anyOf(hcm)},
		}}}},
	}
}

func statsConfig() *metricsv3.StatsConfig {
	tag := func(name, re string) *metricsv3.TagSpecifier {
		return &metricsv3.TagSpecifier{TagName: name, TagValue: &metricsv3.TagSpecifier_Regex{Regex: re}}
	}
	return &metricsv3.StatsConfig{
		UseAllDefaultTags: wrapperspb.Bool(true),
		StatsTags: []*metricsv3.TagSpecifier{
			tag("from_zone", `\.zone(\.(([^\.]+)\.))`),
			tag("to_zone", `\.zone\.[^\.]+\.(([^\.]+)\.)`),
			tag("socket_match_name", `^cluster(\..+\.(.+))\.total_match_count$`),
			tag("priority", `circuit_breakers\.((.+?)\.).+`),
		},
	}
}
