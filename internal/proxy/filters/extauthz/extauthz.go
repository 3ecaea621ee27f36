// Package extauthz is Envoy's envoy.filters.http.ext_authz for the
// built-in proxy: the envoy.service.auth.v3 Authorization service over
// gRPC, or a raw HTTP authorization server, asked before the request goes
// on. It sends the CheckRequest Envoy sends, applies an allow's header
// edits, answers a denial with the server's status, headers and body, and
// on a failed call answers status_on_error (403 by default) unless
// failure_mode_allow lets the request through.
//
// Both transports go through the cluster the config names (the proxy's
// balancing, TLS and connection pools, unix-socket endpoints included);
// gRPC calls are unary HTTP/2 exchanges on that cluster's transport.
//
// Differences, each a choice: fields listed in unsupportedFields are
// rejected by name; route metadata (route_metadata_context_namespaces) is
// not available to filters and is sent empty.
package extauthz

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/match"
)

// FilterName is the filter's name and its dynamic metadata namespace.
const FilterName = "envoy.filters.http.ext_authz"

// failureAllowedHeader marks requests let through by failure_mode_allow.
const failureAllowedHeader = "X-Envoy-Auth-Failure-Mode-Allowed"

func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute")},
		New:              newFilter,
		PerRoute:         parsePerRoute,
	})
}

type perRoute struct {
	disabled   bool
	extensions map[string]string
	noBody     bool
	body       *bodySettings
}

type bodySettings struct {
	max     int
	partial bool
}

func parsePerRoute(cfg *anypb.Any) (any, error) {
	var pr extauthzv3.ExtAuthzPerRoute
	if err := cfg.UnmarshalTo(&pr); err != nil {
		return nil, err
	}
	if err := pr.ValidateAll(); err != nil {
		return nil, err
	}
	cs := pr.GetCheckSettings()
	if cs.GetServiceOverride() != nil {
		return nil, fmt.Errorf("ext_authz per-route: check_settings service overrides are not supported")
	}
	out := &perRoute{disabled: pr.GetDisabled(), extensions: cs.GetContextExtensions(), noBody: cs.GetDisableRequestBodyBuffering()}
	if b := cs.GetWithRequestBody(); b != nil {
		out.body = &bodySettings{max: int(b.GetMaxRequestBytes()), partial: b.GetAllowPartialMessage()}
	}
	return out, nil
}

// Filter is one configured ext_authz instance.
type Filter struct {
	name               string
	grpcCluster        string
	grpcAuthority      string
	grpcMetadata       http.Header
	http               *httpService
	timeout            time.Duration
	failureModeAllow   bool
	failureHeader      bool
	statusOnError      int
	body               *bodySettings
	packAsBytes        bool
	clearRouteCache    bool
	allowed            []match.String // nil: every header
	disallowed         []match.String
	metadataNamespaces []string
	includeTLS         bool
	now                func() time.Time
}

func newFilter(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
	var c extauthzv3.ExtAuthz
	if err := cfg.UnmarshalTo(&c); err != nil {
		return nil, fmt.Errorf("ext_authz %q: %v", name, err)
	}
	f, err := Compile(name, &c)
	if err != nil {
		return nil, fmt.Errorf("ext_authz %q: %v", name, err)
	}
	return f, nil
}

// Compile builds the filter from its config.
func Compile(name string, c *extauthzv3.ExtAuthz) (*Filter, error) {
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	if err := unsupportedFields(c); err != nil {
		return nil, err
	}
	f := &Filter{name: name, failureModeAllow: c.GetFailureModeAllow(), failureHeader: c.GetFailureModeAllowHeaderAdd(),
		statusOnError: http.StatusForbidden, clearRouteCache: c.GetClearRouteCache(),
		metadataNamespaces: c.GetMetadataContextNamespaces(), includeTLS: c.GetIncludeTlsSession(), now: time.Now}
	if code := c.GetStatusOnError().GetCode(); code != 0 {
		f.statusOnError = int(code)
	}
	if b := c.GetWithRequestBody(); b != nil {
		f.body = &bodySettings{max: int(b.GetMaxRequestBytes()), partial: b.GetAllowPartialMessage()}
		f.packAsBytes = b.GetPackAsBytes()
	}
	var err error
	if c.GetAllowedHeaders() != nil {
		if f.allowed, err = compileList(c.GetAllowedHeaders()); err != nil {
			return nil, fmt.Errorf("allowed_headers: %v", err)
		}
	}
	if f.disallowed, err = compileList(c.GetDisallowedHeaders()); err != nil {
		return nil, fmt.Errorf("disallowed_headers: %v", err)
	}
	switch s := c.GetServices().(type) {
	case *extauthzv3.ExtAuthz_GrpcService:
		err = f.compileGRPC(s.GrpcService)
	case *extauthzv3.ExtAuthz_HttpService:
		err = f.compileHTTP(s.HttpService)
	default:
		err = fmt.Errorf("one of grpc_service or http_service is required")
	}
	return f, err
}

func unsupportedFields(c *extauthzv3.ExtAuthz) error {
	var names []string
	add := func(set bool, n string) {
		if set {
			names = append(names, n)
		}
	}
	add(c.GetTransportApiVersion() != corev3.ApiVersion_V3, "transport_api_version other than V3")
	add(c.GetFilterEnabled() != nil, "filter_enabled")
	add(c.GetFilterEnabledMetadata() != nil, "filter_enabled_metadata")
	add(c.GetDenyAtDisable() != nil, "deny_at_disable")
	add(c.GetIncludePeerCertificate(), "include_peer_certificate")
	add(len(c.GetTypedMetadataContextNamespaces()) > 0, "typed_metadata_context_namespaces")
	add(len(c.GetRouteTypedMetadataContextNamespaces()) > 0, "route_typed_metadata_context_namespaces")
	add(c.GetEncodeRawHeaders(), "encode_raw_headers")
	add(c.GetDecoderHeaderMutationRules() != nil, "decoder_header_mutation_rules")
	add(c.GetValidateMutations(), "validate_mutations")
	add(c.GetShadowMode(), "shadow_mode")
	add(len(c.GetClearRouteCacheHeaders()) > 0, "clear_route_cache_headers")
	if len(names) > 0 {
		return fmt.Errorf("%s not supported", strings.Join(names, ", "))
	}
	return nil
}

func (f *Filter) compileGRPC(g *corev3.GrpcService) error {
	eg := g.GetEnvoyGrpc()
	if eg == nil {
		return fmt.Errorf("grpc_service: only envoy_grpc is supported")
	}
	if eg.GetRetryPolicy() != nil {
		return fmt.Errorf("grpc_service.envoy_grpc.retry_policy is not supported")
	}
	f.grpcCluster, f.grpcAuthority = eg.GetClusterName(), eg.GetAuthority()
	if f.grpcAuthority == "" {
		f.grpcAuthority = eg.GetClusterName()
	}
	f.timeout = g.GetTimeout().AsDuration()
	f.grpcMetadata = http.Header{}
	for _, m := range g.GetInitialMetadata() {
		f.grpcMetadata.Add(m.GetKey(), headerValue(m))
	}
	return nil
}

func (f *Filter) compileHTTP(h *extauthzv3.HttpService) error {
	u := h.GetServerUri()
	if u.GetCluster() == "" {
		return fmt.Errorf("http_service.server_uri.cluster is required")
	}
	if h.GetRetryPolicy() != nil {
		return fmt.Errorf("http_service.retry_policy is not supported")
	}
	hs := &httpService{cluster: u.GetCluster(), pathPrefix: h.GetPathPrefix(), pathOverride: h.GetPathOverride()}
	hs.authority = strings.TrimPrefix(strings.TrimPrefix(u.GetUri(), "http://"), "https://")
	hs.authority, _, _ = strings.Cut(hs.authority, "/")
	f.timeout = u.GetTimeout().AsDuration()
	if ar := h.GetAuthorizationRequest(); ar != nil {
		if ar.GetAllowedHeaders() != nil {
			var err error
			if f.allowed, err = compileList(ar.GetAllowedHeaders()); err != nil {
				return fmt.Errorf("authorization_request.allowed_headers: %v", err)
			}
		}
		for _, hv := range ar.GetHeadersToAdd() {
			hs.headersToAdd = append(hs.headersToAdd, headerEdit{name: hv.GetKey(), value: headerValue(hv)})
		}
	}
	resp := h.GetAuthorizationResponse()
	if resp.GetDynamicMetadataFromHeaders() != nil {
		return fmt.Errorf("authorization_response.dynamic_metadata_from_headers is not supported")
	}
	var err error
	for _, l := range []struct {
		dst *[]match.String
		src *matcherv3.ListStringMatcher
	}{{&hs.upstream, resp.GetAllowedUpstreamHeaders()}, {&hs.upstreamAppend, resp.GetAllowedUpstreamHeadersToAppend()},
		{&hs.clientOnSuccess, resp.GetAllowedClientHeadersOnSuccess()}} {
		if *l.dst, err = compileList(l.src); err != nil {
			return err
		}
	}
	if resp.GetAllowedClientHeaders() != nil {
		if hs.client, err = compileList(resp.GetAllowedClientHeaders()); err != nil {
			return err
		}
	}
	f.http = hs
	return nil
}

func compileList(l *matcherv3.ListStringMatcher) ([]match.String, error) {
	var out []match.String
	for _, p := range l.GetPatterns() {
		m, err := match.CompileString(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if l != nil && out == nil {
		out = []match.String{}
	}
	return out, nil
}

func (f *Filter) upstreams(s *filters.Stream) filters.Upstreams {
	if s.Upstreams == nil {
		return noUpstreams{}
	}
	return s.Upstreams
}

// Serve asks the authorization server and acts on its decision.
func (f *Filter) Serve(s *filters.Stream, next filters.Next) {
	var pr *perRoute
	if v, ok := s.PerRoute(f.name); ok {
		pr, _ = v.(*perRoute)
	}
	if pr != nil && pr.disabled {
		next(s)
		return
	}
	body, ok := f.readBody(s, pr)
	if !ok {
		s.LocalReply(http.StatusRequestEntityTooLarge, "Payload Too Large", "request_payload_too_large")
		return
	}
	o, err := f.call(s, pr, body)
	if err != nil {
		slog.Warn("ext_authz: authorization server failed", "filter", f.name, "route", s.RouteName, "error", err)
		if f.failureModeAllow {
			if f.failureHeader {
				s.Request.Header.Set(failureAllowedHeader, "true")
			}
			next(s)
			return
		}
		s.LocalReply(f.statusOnError, "", "ext_authz_error")
		return
	}
	if len(o.metadata) > 0 {
		s.DynamicMetadata()[FilterName] = o.metadata
	}
	if !o.allowed {
		for _, e := range o.response {
			e.apply(s.Writer.Header())
		}
		s.LocalReply(o.status, o.body, "ext_authz_denied")
		return
	}
	if o.applyToRequest(s.Request) && f.clearRouteCache && s.ClearRouteCache != nil {
		s.ClearRouteCache()
	}
	if len(o.response) > 0 {
		s.Writer = &filters.HookWriter{ResponseWriter: s.Writer, OnHeader: func(code int, h http.Header) int {
			for _, e := range o.response {
				e.apply(h)
			}
			return code
		}}
	}
	next(s)
}

// call runs one check within the configured timeout.
func (f *Filter) call(s *filters.Stream, pr *perRoute, body []byte) (*outcome, error) {
	ctx := s.Request.Context()
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	if f.http != nil {
		return f.http.check(ctx, f, s, body)
	}
	var ext map[string]string
	if pr != nil {
		ext = pr.extensions
	}
	resp, err := grpcCall(ctx, f.upstreams(s), f.grpcCluster, f.grpcAuthority, f.grpcMetadata, f.timeout,
		f.checkRequest(s, body, ext, f.now()))
	if err != nil {
		return nil, err
	}
	return fromCheckResponse(resp), nil
}

// readBody buffers up to max_request_bytes of the body for the check and
// puts it back in front of the rest. It reports false when the body is
// larger and partial messages are not allowed (Envoy answers 413).
func (f *Filter) readBody(s *filters.Stream, pr *perRoute) ([]byte, bool) {
	bs := f.body
	if pr != nil && pr.body != nil {
		bs = pr.body
	}
	r := s.Request
	if bs == nil || pr != nil && pr.noBody || r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, int64(bs.max)+1))
	if err != nil {
		return nil, false
	}
	rest := io.MultiReader(bytes.NewReader(buf), r.Body)
	r.Body = readCloser{Reader: rest, Closer: r.Body}
	if len(buf) > bs.max {
		if !bs.partial {
			return nil, false
		}
		buf = buf[:bs.max]
	}
	return buf, true
}

type readCloser struct {
	io.Reader
	io.Closer
}

type noUpstreams struct{}

func (noUpstreams) RoundTrip(cluster string, _ *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("cluster %q not found", cluster)
}

func (noUpstreams) Dial(_ context.Context, cluster string) (net.Conn, error) {
	return nil, fmt.Errorf("cluster %q not found", cluster)
}
