package hcm

import (
	"errors"
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/h1srv"
	"github.com/portico-gw/portico/internal/proxy/route"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

type codec int

const (
	codecAuto codec = iota
	codecH1
	codecH2
)

// Config is a compiled HttpConnectionManager.
type Config struct {
	// RDSName is the route configuration the HCM takes from RDS; "" when
	// its routes are inline (Inline).
	RDSName        string
	Inline         *route.Table
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
	logs           []*accesslog.Spec
	maxHeaderBytes int // max_request_headers_kb, in bytes (default 60 KiB)
	maxHeaders     int // common_http_protocol_options.max_headers_count (default 100)
	preserveRID    bool
	internal       *internalAddrs
	stats          downstreamStats
}

// Envoy's defaults for the request head's bounds.
const (
	defaultMaxRequestHeadersKB = 60
	defaultMaxHeadersCount     = 100
)

// Limits are the bounds the downstream server enforces on this HCM's
// connections before a request reaches it.
func (h *Config) Limits() h1srv.Limits {
	return h1srv.Limits{IdleTimeout: h.idleTimeout, HeaderTimeout: h.headersTimeout, StreamIdleTimeout: h.streamIdle,
		MaxHeaderBytes: h.maxHeaderBytes, MaxHeaders: h.maxHeaders}
}

// hcmFilter is one HTTP filter of the chain (the router is not one: the
// HCM forwards after the last filter).
type hcmFilter struct {
	name     string
	f        filters.Filter
	disabled bool
}

// Compile compiles an HttpConnectionManager. Its HTTP filters are built
// from the filters registry with bc; the warnings name what is accepted
// but not done.
func Compile(h *hcmv3.HttpConnectionManager, bc filters.BuildContext) (*Config, []string, error) {
	if err := xdsconf.CheckFields("http_connection_manager", h, "codec_type", "stat_prefix", "rds", "route_config",
		"http_filters", "common_http_protocol_options", "http_protocol_options", "http2_protocol_options",
		"server_name", "server_header_transformation", "stream_idle_timeout", "request_timeout",
		"request_headers_timeout", "drain_timeout", "delayed_close_timeout", "access_log", "use_remote_address",
		"xff_num_trusted_hops", "skip_xff_append", "generate_request_id", "preserve_external_request_id",
		"normalize_path", "merge_slashes", "path_with_escaped_slashes_action", "upgrade_configs",
		"local_reply_config", "strip_any_host_port", "forward_client_cert_details", "max_request_headers_kb",
		"add_user_agent", "internal_address_config"); err != nil {
		return nil, nil, err
	}
	hc := &Config{serverName: "envoy", useRemote: h.GetUseRemoteAddress().GetValue(), skipXFF: h.GetSkipXffAppend(),
		normalizePath: h.GetNormalizePath().GetValue(), mergeSlashes: h.GetMergeSlashes(),
		escapedSlashes: h.GetPathWithEscapedSlashesAction(), stripAnyPort: h.GetStripAnyHostPort(),
		genRequestID: h.GetGenerateRequestId() == nil || h.GetGenerateRequestId().GetValue(), idleTimeout: time.Hour,
		preserveRID: h.GetPreserveExternalRequestId(), maxHeaderBytes: defaultMaxRequestHeadersKB << 10,
		maxHeaders: defaultMaxHeadersCount, stats: newDownstreamStats(bc.Stats, h.GetStatPrefix())}
	if err := hc.compileLimits(h); err != nil {
		return nil, nil, err
	}
	if err := hc.compileHeaders(h); err != nil {
		return nil, nil, err
	}
	if err := hc.compileProtocol(h); err != nil {
		return nil, nil, err
	}
	if err := hc.compileRoutes(h); err != nil {
		return nil, nil, err
	}
	var err error
	if hc.localReply, err = compileLocalReply(h.GetLocalReplyConfig()); err != nil {
		return nil, nil, err
	}
	warnings, err := hc.compileFilters(h.GetHttpFilters(), bc)
	if err != nil {
		return nil, nil, err
	}
	return hc, warnings, nil
}

// compileLimits reads the request head's bounds and the stream timers.
func (hc *Config) compileLimits(h *hcmv3.HttpConnectionManager) error {
	if kb := h.GetMaxRequestHeadersKb(); kb != nil {
		if kb.GetValue() == 0 || kb.GetValue() > 8192 {
			return fmt.Errorf("max_request_headers_kb: %d is not in 1..8192", kb.GetValue())
		}
		hc.maxHeaderBytes = int(kb.GetValue()) << 10
	}
	if n := h.GetCommonHttpProtocolOptions().GetMaxHeadersCount(); n != nil {
		if n.GetValue() == 0 {
			return errors.New("common_http_protocol_options.max_headers_count: must be at least 1")
		}
		hc.maxHeaders = int(n.GetValue())
	}
	return nil
}

// compileHeaders reads what the HCM does to request and response
// headers: internal addresses, the server header.
func (hc *Config) compileHeaders(h *hcmv3.HttpConnectionManager) error {
	var err error
	if hc.internal, err = compileInternalAddrs(h.GetInternalAddressConfig()); err != nil {
		return err
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
	return nil
}

// compileProtocol reads the codec, the protocol options and timeouts,
// the access logs and the upgrades.
func (hc *Config) compileProtocol(h *hcmv3.HttpConnectionManager) error {
	switch h.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO:
	case hcmv3.HttpConnectionManager_HTTP1:
		hc.codec = codecH1
	case hcmv3.HttpConnectionManager_HTTP2:
		hc.codec = codecH2
	default:
		return fmt.Errorf("codec_type %v is not supported", h.GetCodecType())
	}
	if cp := h.GetCommonHttpProtocolOptions(); cp != nil {
		if err := xdsconf.CheckFields("common_http_protocol_options", cp, "idle_timeout", "headers_with_underscores_action",
			"max_headers_count"); err != nil {
			return err
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
	logs, err := accesslog.Compile(h.GetAccessLog())
	if err != nil {
		return err
	}
	hc.logs = logs
	for _, u := range h.GetUpgradeConfigs() {
		if !strings.EqualFold(u.GetUpgradeType(), "websocket") || len(u.GetFilters()) > 0 {
			return fmt.Errorf("upgrade_configs: only websocket without filters is supported, got %q", u.GetUpgradeType())
		}
		hc.websocket = u.GetEnabled() == nil || u.GetEnabled().GetValue()
	}
	return nil
}

// compileRoutes reads where the routes come from: RDS over ADS, or
// inline.
func (hc *Config) compileRoutes(h *hcmv3.HttpConnectionManager) error {
	switch rs := h.GetRouteSpecifier().(type) {
	case *hcmv3.HttpConnectionManager_Rds:
		if err := xdsconf.CheckADSSource(rs.Rds.GetConfigSource()); err != nil {
			return fmt.Errorf("rds: %v", err)
		}
		hc.RDSName = rs.Rds.GetRouteConfigName()
	case *hcmv3.HttpConnectionManager_RouteConfig:
		t, err := route.CompileConfig(rs.RouteConfig)
		if err != nil {
			return err
		}
		hc.Inline = t
	default:
		return fmt.Errorf("route specifier %T is not supported", rs)
	}
	return nil
}

// compileFilters builds the HTTP filters from the registry.
func (hc *Config) compileFilters(fs []*hcmv3.HttpFilter, bc filters.BuildContext) ([]string, error) {
	var warnings []string
	seen := map[string]bool{}
	hasRouter := false
	for i, f := range fs {
		if seen[f.GetName()] {
			return nil, fmt.Errorf("http filter %q appears twice", f.GetName())
		}
		seen[f.GetName()] = true
		tc := f.GetTypedConfig()
		if tc == nil {
			return nil, fmt.Errorf("http filter %q: typed_config is required (config_discovery is not supported)", f.GetName())
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
			return nil, fmt.Errorf("http filter %q: unknown filter type %s", f.GetName(), tc.GetTypeUrl())
		}
		if fac.Terminal != (i == len(fs)-1) {
			return nil, fmt.Errorf("http filter %q: the router must be the last filter, and only the last", f.GetName())
		}
		inst, err := fac.New(f.GetName(), tc, bc)
		if err != nil {
			return nil, fmt.Errorf("http filter %q: %v", f.GetName(), err)
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
		return nil, fmt.Errorf("no http filters: the router is required")
	}
	return warnings, nil
}
