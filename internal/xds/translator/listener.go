package translator

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/ir"
)

const (
	hcmFilterName = "envoy.filters.network.http_connection_manager"
	// bufferLimit is Envoy Gateway's per-connection buffer limit (32 KiB).
	bufferLimit = 32768
)

// baseListener is the Envoy listener of the port of first, without filter
// chains.
func baseListener(x *ir.Xds, first *ir.HTTPListener) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:                                 listenerName(x, first),
		Address:                              socketAddress(first.Address, first.Port),
		PerConnectionBufferLimitBytes:        wrapUint32(bufferLimit),
		MaxConnectionsToAcceptPerSocketEvent: wrapUint32(1),
		AccessLog:                            accessLogs(x.AccessLog, true),
	}
}

func socketAddress(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func tlsInspector() []*listenerv3.ListenerFilter {
	return []*listenerv3.ListenerFilter{{
		Name:       "envoy.filters.listener.tls_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})},
	}}
}

// hcmFilterChain wraps an HCM in a filter chain named name.
func hcmFilterChain(name string, hcm *hcmv3.HttpConnectionManager) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{
		Name: name,
		Filters: []*listenerv3.Filter{{
			Name:       hcmFilterName,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}},
	}
}

var escapedSlashes = map[string]hcmv3.HttpConnectionManager_PathWithEscapedSlashesAction{
	"KeepUnchanged":       hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
	"RejectRequest":       hcmv3.HttpConnectionManager_REJECT_REQUEST,
	"UnescapeAndRedirect": hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT,
	"UnescapeAndForward":  hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD,
}

// buildHCM is Envoy Gateway's HTTP connection manager for l, fetching
// routes rcName over RDS; shared lists every IR listener served by it.
func buildHCM(x *ir.Xds, l *ir.HTTPListener, shared []*ir.HTTPListener, rcName string, s *Sink, e *errs) (*hcmv3.HttpConnectionManager, error) {
	filters := buildHTTPFilters(&ListenerContext{Xds: x, Listeners: shared, Sink: s}, e)
	return &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix(x, l),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: rcName,
		}},
		AccessLog:                    accessLogs(x.AccessLog, false),
		HttpFilters:                  filters,
		NormalizePath:                wrapBool(true),
		MergeSlashes:                 l.Path.MergeSlashes,
		PathWithEscapedSlashesAction: escapedSlashes[l.Path.EscapedSlashesAction],
		UseRemoteAddress:             wrapBool(true),
		ServerHeaderTransformation:   hcmv3.HttpConnectionManager_PASS_THROUGH,
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{
			HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_REJECT_REQUEST,
		},
		Http2ProtocolOptions: http2Options(true),
	}, nil
}

// http2Options is Envoy Gateway's HTTP/2 window sizes (and, downstream,
// the stream limit).
func http2Options(downstream bool) *corev3.Http2ProtocolOptions {
	o := &corev3.Http2ProtocolOptions{
		InitialStreamWindowSize:     wrapUint32(65536),
		InitialConnectionWindowSize: wrapUint32(1048576),
	}
	if downstream {
		o.MaxConcurrentStreams = wrapUint32(100)
	}
	return o
}
