package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/h1srv"
)

const (
	hcmType          = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	tlsInspectorType = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
)

// listenerCfg is a compiled Listener.
type listenerCfg struct {
	name   string
	addr   string      // host:port to bind
	chains []*chainCfg // filter_chains, in order
	def    *chainCfg   // default_filter_chain
	tls    bool        // every chain terminates TLS
	// ignoreConnLimit: the listener's connections are not counted against
	// the downstream connection limit (ignore_global_conn_limit, or
	// bypass_overload_manager).
	ignoreConnLimit bool
}

// chainCfg is one filter chain: its match, TLS and HCM.
type chainCfg struct {
	name        string
	serverNames []string
	tls         *tlsSpec
	hcm         *hcmCfg
}

// sdsNames lists the secrets the listener's chains need.
func (l *listenerCfg) sdsNames() []string {
	var out []string
	for _, c := range l.allChains() {
		out = append(out, c.tls.sdsNames()...)
	}
	return out
}

func (l *listenerCfg) allChains() []*chainCfg {
	out := append([]*chainCfg(nil), l.chains...)
	if l.def != nil {
		out = append(out, l.def)
	}
	return out
}

// rdsNames lists the route configurations the chains use.
func (l *listenerCfg) rdsNames() []string {
	var out []string
	for _, c := range l.allChains() {
		if c.hcm.rdsName != "" {
			out = append(out, c.hcm.rdsName)
		}
	}
	return out
}

type codec int

const (
	codecAuto codec = iota
	codecH1
	codecH2
)

// hcmCfg is a compiled HttpConnectionManager.
type hcmCfg struct {
	rdsName        string
	inline         *routeTable
	filters        []hcmFilter
	localReply     *localReplyCfg
	codec          codec
	serverName     string
	passServer     bool // server_header_transformation PASS_THROUGH
	appendServer   bool // APPEND_IF_ABSENT
	useRemote      bool
	skipXFF        bool
	normalizePath  bool
	mergeSlashes   bool
	escapedSlashes hcmv3.HttpConnectionManager_PathWithEscapedSlashesAction
	stripAnyPort   bool
	websocket      bool
	idleTimeout    time.Duration
	headersTimeout time.Duration
	genRequestID   bool
	suppressEnvoy  bool
	underscores    corev3.HttpProtocolOptions_HeadersWithUnderscoresAction
	streamIdle     time.Duration
	requestTimeout time.Duration
	logs           []*logSpec
	maxHeaderBytes int // max_request_headers_kb, in bytes (default 60 KiB)
	maxHeaders     int // common_http_protocol_options.max_headers_count (default 100)
	preserveRID    bool
	internal       *internalAddrs
}

// Envoy's defaults for the request head's bounds.
const (
	defaultMaxRequestHeadersKB = 60
	defaultMaxHeadersCount     = 100
)

// limits are the bounds h1srv enforces on this HCM's connections before
// a request reaches it.
func (h *hcmCfg) limits() h1srv.Limits {
	return h1srv.Limits{IdleTimeout: h.idleTimeout, HeaderTimeout: h.headersTimeout, StreamIdleTimeout: h.streamIdle,
		MaxHeaderBytes: h.maxHeaderBytes, MaxHeaders: h.maxHeaders}
}

type hcmFilter struct {
	name     string
	f        filters.Filter
	disabled bool
}

func compileListener(l *listenerv3.Listener, bc filters.BuildContext) (*listenerCfg, []string, error) {
	if err := checkFields("listener "+l.GetName(), l, "name", "address", "filter_chains", "default_filter_chain",
		"listener_filters", "per_connection_buffer_limit_bytes", "traffic_direction", "enable_reuse_port",
		"stat_prefix", "metadata", "listener_filters_timeout", "continue_on_listener_filters_timeout", "drain_type",
		"max_connections_to_accept_per_socket_event", "access_log", "tcp_backlog_size", "ignore_global_conn_limit",
		"bypass_overload_manager"); err != nil {
		return nil, nil, err
	}
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil {
		return nil, nil, fmt.Errorf("listener %s: only socket addresses are supported", l.GetName())
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return nil, nil, fmt.Errorf("listener %s: only TCP listeners are supported", l.GetName())
	}
	lc := &listenerCfg{name: l.GetName(), addr: net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))),
		// The connection limit is the built-in proxy's only overload
		// action, so bypassing the overload manager (Envoy Gateway's
		// readiness listener does) means not being counted.
		ignoreConnLimit: l.GetIgnoreGlobalConnLimit() || l.GetBypassOverloadManager()}
	for _, lf := range l.GetListenerFilters() {
		// tls_inspector reads the SNI; Go's TLS handshake gives us that.
		if lf.GetTypedConfig().GetTypeUrl() != tlsInspectorType {
			return nil, nil, fmt.Errorf("listener %s: listener filter %q is not supported", l.GetName(), lf.GetName())
		}
	}
	var warnings []string
	if len(l.GetAccessLog()) > 0 {
		// Listener access logs record connections no filter chain took;
		// Go's server gives no hook for those, so they are not written.
		warnings = append(warnings, "listener "+l.GetName()+": listener-level access_log accepted but not written")
	}
	for i, fc := range l.GetFilterChains() {
		c, warn, err := compileChain(fc, sa.GetPortValue(), bc)
		if err != nil {
			return nil, nil, fmt.Errorf("listener %s: filter chain %d (%s): %v", l.GetName(), i, fc.GetName(), err)
		}
		lc.chains = append(lc.chains, c)
		warnings = append(warnings, warn...)
	}
	if dc := l.GetDefaultFilterChain(); dc != nil {
		c, warn, err := compileChain(dc, sa.GetPortValue(), bc)
		if err != nil {
			return nil, nil, fmt.Errorf("listener %s: default filter chain: %v", l.GetName(), err)
		}
		lc.def = c
		warnings = append(warnings, warn...)
	}
	all := lc.allChains()
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("listener %s: no filter chain", l.GetName())
	}
	lc.tls = all[0].tls != nil
	for _, c := range all {
		if (c.tls != nil) != lc.tls {
			return nil, nil, fmt.Errorf("listener %s: mixing TLS and plaintext filter chains on one listener is not supported", l.GetName())
		}
		if !lc.tls && len(c.serverNames) > 0 {
			return nil, nil, fmt.Errorf("listener %s: server_names on a plaintext filter chain can never match", l.GetName())
		}
	}
	return lc, warnings, nil
}

func compileChain(fc *listenerv3.FilterChain, port uint32, bc filters.BuildContext) (*chainCfg, []string, error) {
	if err := checkFields("filter chain", fc, "filter_chain_match", "filters", "transport_socket", "name", "metadata",
		"transport_socket_connect_timeout"); err != nil {
		return nil, nil, err
	}
	c := &chainCfg{name: fc.GetName()}
	if m := fc.GetFilterChainMatch(); m != nil {
		if err := checkFields("filter_chain_match", m, "server_names", "transport_protocol", "destination_port"); err != nil {
			return nil, nil, err
		}
		if m.GetDestinationPort() != nil && m.GetDestinationPort().GetValue() != port {
			return nil, nil, fmt.Errorf("filter_chain_match destination_port %d differs from the listener port", m.GetDestinationPort().GetValue())
		}
		for _, n := range m.GetServerNames() {
			c.serverNames = append(c.serverNames, strings.ToLower(n))
		}
	}
	var warnings []string
	var err error
	if c.tls, warnings, err = downstreamTLS(fc.GetTransportSocket()); err != nil {
		return nil, nil, err
	}
	if tp := fc.GetFilterChainMatch().GetTransportProtocol(); tp != "" && tp != map[bool]string{true: "tls", false: "raw_buffer"}[c.tls != nil] {
		return nil, nil, fmt.Errorf("transport_protocol %q does not fit the chain's transport socket", tp)
	}
	if len(fc.GetFilters()) != 1 || fc.GetFilters()[0].GetTypedConfig().GetTypeUrl() != hcmType {
		var names []string
		for _, f := range fc.GetFilters() {
			names = append(names, f.GetName())
		}
		return nil, nil, fmt.Errorf("the filter chain must be exactly one http_connection_manager, got %v", names)
	}
	var h hcmv3.HttpConnectionManager
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&h); err != nil {
		return nil, nil, err
	}
	hc, warn, err := compileHCM(&h, bc)
	if err != nil {
		return nil, nil, err
	}
	c.hcm = hc
	return c, append(warnings, warn...), nil
}

func compileHCM(h *hcmv3.HttpConnectionManager, bc filters.BuildContext) (*hcmCfg, []string, error) {
	if err := checkFields("http_connection_manager", h, "codec_type", "stat_prefix", "rds", "route_config",
		"http_filters", "common_http_protocol_options", "http_protocol_options", "http2_protocol_options",
		"server_name", "server_header_transformation", "stream_idle_timeout", "request_timeout",
		"request_headers_timeout", "drain_timeout", "delayed_close_timeout", "access_log", "use_remote_address",
		"xff_num_trusted_hops", "skip_xff_append", "generate_request_id", "preserve_external_request_id",
		"normalize_path", "merge_slashes", "path_with_escaped_slashes_action", "upgrade_configs",
		"local_reply_config", "strip_any_host_port", "forward_client_cert_details", "max_request_headers_kb",
		"add_user_agent", "internal_address_config"); err != nil {
		return nil, nil, err
	}
	var warnings []string
	hc := &hcmCfg{serverName: "envoy", useRemote: h.GetUseRemoteAddress().GetValue(), skipXFF: h.GetSkipXffAppend(),
		normalizePath: h.GetNormalizePath().GetValue(), mergeSlashes: h.GetMergeSlashes(),
		escapedSlashes: h.GetPathWithEscapedSlashesAction(), stripAnyPort: h.GetStripAnyHostPort(),
		genRequestID: h.GetGenerateRequestId() == nil || h.GetGenerateRequestId().GetValue(), idleTimeout: time.Hour,
		preserveRID: h.GetPreserveExternalRequestId(), maxHeaderBytes: defaultMaxRequestHeadersKB << 10,
		maxHeaders: defaultMaxHeadersCount}
	if kb := h.GetMaxRequestHeadersKb(); kb != nil {
		if kb.GetValue() == 0 || kb.GetValue() > 8192 {
			return nil, nil, fmt.Errorf("max_request_headers_kb: %d is not in 1..8192", kb.GetValue())
		}
		hc.maxHeaderBytes = int(kb.GetValue()) << 10
	}
	if n := h.GetCommonHttpProtocolOptions().GetMaxHeadersCount(); n != nil {
		if n.GetValue() == 0 {
			return nil, nil, errors.New("common_http_protocol_options.max_headers_count: must be at least 1")
		}
		hc.maxHeaders = int(n.GetValue())
	}
	var err error
	if hc.internal, err = compileInternalAddrs(h.GetInternalAddressConfig()); err != nil {
		return nil, nil, err
	}
	if h.GetServerName() != "" {
		hc.serverName = h.GetServerName()
	}
	switch h.GetServerHeaderTransformation() {
	case hcmv3.HttpConnectionManager_PASS_THROUGH:
		hc.passServer = true
	case hcmv3.HttpConnectionManager_APPEND_IF_ABSENT:
		hc.appendServer = true
	}
	switch h.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO:
	case hcmv3.HttpConnectionManager_HTTP1:
		hc.codec = codecH1
	case hcmv3.HttpConnectionManager_HTTP2:
		hc.codec = codecH2
	default:
		return nil, nil, fmt.Errorf("codec_type %v is not supported", h.GetCodecType())
	}
	if cp := h.GetCommonHttpProtocolOptions(); cp != nil {
		if err := checkFields("common_http_protocol_options", cp, "idle_timeout", "headers_with_underscores_action",
			"max_headers_count"); err != nil {
			return nil, nil, err
		}
		hc.underscores = cp.GetHeadersWithUnderscoresAction()
	}
	if t := h.GetCommonHttpProtocolOptions().GetIdleTimeout(); t != nil {
		hc.idleTimeout = t.AsDuration()
	}
	if t := h.GetRequestHeadersTimeout(); t != nil {
		hc.headersTimeout = t.AsDuration()
	}
	hc.streamIdle = defaultStreamIdle
	if h.GetStreamIdleTimeout() != nil {
		hc.streamIdle = h.GetStreamIdleTimeout().AsDuration() // 0 disables, as in Envoy
	}
	hc.requestTimeout = h.GetRequestTimeout().AsDuration()
	logs, err := compileAccessLogs(h.GetAccessLog())
	if err != nil {
		return nil, nil, err
	}
	hc.logs = logs
	for _, u := range h.GetUpgradeConfigs() {
		if !strings.EqualFold(u.GetUpgradeType(), "websocket") || len(u.GetFilters()) > 0 {
			return nil, nil, fmt.Errorf("upgrade_configs: only websocket without filters is supported, got %q", u.GetUpgradeType())
		}
		hc.websocket = u.GetEnabled() == nil || u.GetEnabled().GetValue()
	}
	switch rs := h.GetRouteSpecifier().(type) {
	case *hcmv3.HttpConnectionManager_Rds:
		if err := checkADSSource(rs.Rds.GetConfigSource()); err != nil {
			return nil, nil, fmt.Errorf("rds: %v", err)
		}
		hc.rdsName = rs.Rds.GetRouteConfigName()
	case *hcmv3.HttpConnectionManager_RouteConfig:
		t, err := compileRouteConfig(rs.RouteConfig)
		if err != nil {
			return nil, nil, err
		}
		hc.inline = t
	default:
		return nil, nil, fmt.Errorf("route specifier %T is not supported", rs)
	}
	if hc.localReply, err = compileLocalReply(h.GetLocalReplyConfig()); err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	hasRouter := false
	for i, f := range h.GetHttpFilters() {
		if seen[f.GetName()] {
			return nil, nil, fmt.Errorf("http filter %q appears twice", f.GetName())
		}
		seen[f.GetName()] = true
		tc := f.GetTypedConfig()
		if tc == nil {
			return nil, nil, fmt.Errorf("http filter %q: typed_config is required (config_discovery is not supported)", f.GetName())
		}
		fac, ok := filters.Lookup(tc.GetTypeUrl())
		if !ok {
			// Unknown filters NACK even when disabled: any later route
			// config may enable them, and a route config must not become
			// invalid because of which listener happens to use it. Envoy's
			// is_optional is the explicit way to say "skip if unknown".
			if f.GetIsOptional() {
				warnings = append(warnings, fmt.Sprintf("http filter %q (%s) is optional and unknown: skipped", f.GetName(), tc.GetTypeUrl()))
				continue
			}
			return nil, nil, fmt.Errorf("http filter %q: unknown filter type %s", f.GetName(), tc.GetTypeUrl())
		}
		if fac.Terminal != (i == len(h.GetHttpFilters())-1) {
			return nil, nil, fmt.Errorf("http filter %q: the router must be the last filter, and only the last", f.GetName())
		}
		inst, err := fac.New(f.GetName(), tc, bc)
		if err != nil {
			return nil, nil, fmt.Errorf("http filter %q: %v", f.GetName(), err)
		}
		if r, ok := inst.(*filters.Router); ok {
			// The router only continues to forwarding, which the HCM
			// does after the last filter anyway (even with the router
			// disabled): it is not run as a filter.
			hc.suppressEnvoy = r.SuppressEnvoyHeaders
			hasRouter = true
			continue
		}
		hc.filters = append(hc.filters, hcmFilter{name: f.GetName(), f: inst, disabled: f.GetDisabled()})
	}
	if !hasRouter {
		return nil, nil, fmt.Errorf("no http filters: the router is required")
	}
	return hc, warnings, nil
}
