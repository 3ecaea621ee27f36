package translator

import (
	"fmt"
	"sort"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portico-gw/portico/internal/ir"
)

const extAuthzFilterName = "envoy.filters.http.ext_authz"

// ext_authz follows Envoy Gateway's layout: one disabled HCM entry per
// SecurityPolicy (envoy.filters.http.ext_authz/<policy>), sorted by name,
// enabled on each of its routes by an ExtAuthzPerRoute carrying the
// policy's context extensions. The service's cluster is the policy's
// backendRefs (gRPC clusters speak HTTP/2).
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     extAuthzFilterName,
		Rank:     RankExtAuthz,
		Listener: extAuthzListenerFilters,
		Route:    extAuthzRouteConfig,
	})
}

func extAuthzInstanceName(e *ir.ExtAuth) string { return extAuthzFilterName + "/" + e.Name }

func extAuthzListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	byName := map[string]*ir.ExtAuth{}
	for _, l := range c.Listeners {
		for _, r := range l.Routes {
			if r == nil || r.Security == nil || r.Security.ExtAuth == nil {
				continue
			}
			if _, ok := byName[r.Security.ExtAuth.Name]; !ok {
				byName[r.Security.ExtAuth.Name] = r.Security.ExtAuth
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*hcmv3.HttpFilter
	for _, n := range names {
		e := byName[n]
		cfg, dest, err := extAuthzConfig(e)
		if err != nil {
			return nil, fmt.Errorf("ext auth %s: %v", n, err)
		}
		c.Sink.addClusterAfterRoutes(clusterSpec{name: dest.Name, settings: dest.Settings, metadata: dest.Metadata})
		f, err := disabledFilter(extAuthzInstanceName(e), cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func extAuthzConfig(e *ir.ExtAuth) (*extauthzv3.ExtAuthz, *ir.RouteDestination, error) {
	timeout := 10 * time.Second
	if e.Timeout != nil {
		if d, err := time.ParseDuration(*e.Timeout); err == nil {
			timeout = d
		}
	}
	cfg := &extauthzv3.ExtAuthz{TransportApiVersion: corev3.ApiVersion_V3}
	if e.FailOpen != nil && *e.FailOpen {
		cfg.FailureModeAllow = true
	}
	if e.RecomputeRoute != nil && *e.RecomputeRoute {
		cfg.ClearRouteCache = true
	}
	if e.BodyToExtAuth != nil {
		cfg.WithRequestBody = &extauthzv3.BufferSettings{MaxRequestBytes: e.BodyToExtAuth.MaxRequestBytes}
	}
	if e.StatusOnError != nil {
		cfg.StatusOnError = &typev3.HttpStatus{Code: typev3.StatusCode(*e.StatusOnError)}
	}
	if e.IncludeRouteMetadata {
		cfg.RouteMetadataContextNamespaces = []string{"envoy-gateway"}
	}
	if len(e.HeadersToExtAuth) > 0 {
		cfg.AllowedHeaders = exactIgnoreCase(e.HeadersToExtAuth)
	}
	switch {
	case e.GRPC != nil:
		cfg.Services = &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
				ClusterName: e.GRPC.Destination.Name, Authority: e.GRPC.Authority}},
			Timeout: durationpb.New(timeout),
		}}
		return cfg, &e.GRPC.Destination, cfg.ValidateAll()
	case e.HTTP != nil:
		h := e.HTTP
		path := h.Path
		if h.PathOverride != "" {
			path = h.PathOverride
		}
		hs := &extauthzv3.HttpService{
			ServerUri: &corev3.HttpUri{Uri: "http://" + h.Authority + path,
				HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: h.Destination.Name}, Timeout: durationpb.New(timeout)},
			PathPrefix:   h.Path,
			PathOverride: h.PathOverride,
		}
		if h.PathOverride != "" {
			hs.PathPrefix = ""
		}
		if len(h.HeadersToBackend) > 0 {
			hs.AuthorizationResponse = &extauthzv3.AuthorizationResponse{AllowedUpstreamHeaders: exactIgnoreCase(h.HeadersToBackend)}
		}
		cfg.Services = &extauthzv3.ExtAuthz_HttpService{HttpService: hs}
		return cfg, &h.Destination, cfg.ValidateAll()
	}
	return nil, nil, fmt.Errorf("neither grpc nor http")
}

func exactIgnoreCase(names []string) *matcherv3.ListStringMatcher {
	l := &matcherv3.ListStringMatcher{}
	for _, n := range names {
		l.Patterns = append(l.Patterns, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: n}, IgnoreCase: true})
	}
	return l
}

func extAuthzRouteConfig(c *RouteContext) error {
	if c.IR.Security == nil || c.IR.Security.ExtAuth == nil {
		return nil
	}
	e := c.IR.Security.ExtAuth
	cs := &extauthzv3.CheckSettings{}
	for _, x := range e.ContextExtensions {
		if cs.ContextExtensions == nil {
			cs.ContextExtensions = map[string]string{}
		}
		cs.ContextExtensions[x.Name] = string(x.Value)
	}
	return c.SetPerFilterConfig(extAuthzInstanceName(e), &extauthzv3.ExtAuthzPerRoute{
		Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{CheckSettings: cs}})
}
