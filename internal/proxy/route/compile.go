package route

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/match"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// perFilter is one typed_per_filter_config entry.
type perFilter struct {
	disabled bool
	config   any // parsed filter-specific config, nil for a bare FilterConfig
}

var filterConfigType = filters.TypeURL("envoy.config.route.v3.FilterConfig")

func compilePerFilter(m map[string]*anypb.Any) (map[string]perFilter, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]perFilter, len(m))
	for name, a := range m {
		var pf perFilter
		inner, optional := a, false
		if a.GetTypeUrl() == filterConfigType {
			var fc routev3.FilterConfig
			if err := a.UnmarshalTo(&fc); err != nil {
				return nil, fmt.Errorf("typed_per_filter_config[%s]: %v", name, err)
			}
			pf.disabled, optional, inner = fc.GetDisabled(), fc.GetIsOptional(), fc.GetConfig()
			if inner.GetTypeUrl() == "" && len(inner.GetValue()) == 0 {
				// `config: {}` (Envoy Gateway writes it) is no config at all.
				inner = nil
			}
		}
		if inner != nil {
			f, ok := filters.LookupPerRoute(inner.GetTypeUrl())
			if !ok {
				if optional {
					// is_optional is Envoy's own escape hatch: a proxy that
					// lacks the filter may skip this entry.
					continue
				}
				return nil, fmt.Errorf("typed_per_filter_config[%s]: unknown per-route config type %s", name, inner.GetTypeUrl())
			}
			cfg, err := f.PerRoute(inner)
			if err != nil {
				return nil, fmt.Errorf("typed_per_filter_config[%s]: %v", name, err)
			}
			pf.config = cfg
		}
		out[name] = pf
	}
	return out, nil
}

func CompileConfig(rc *routev3.RouteConfiguration) (*Table, error) {
	t, err := newRouteTable(rc)
	if err != nil {
		return nil, err
	}
	vhs := make([]compiledVhost, 0, len(rc.GetVirtualHosts()))
	for _, v := range rc.GetVirtualHosts() {
		cv, err := compileVhostFor(v, t.perFilter)
		if err != nil {
			return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
		}
		vhs = append(vhs, cv)
	}
	return t.link(vhs)
}

// newRouteTable compiles a route configuration's own fields; its virtual
// hosts are linked in by link.
func newRouteTable(rc *routev3.RouteConfiguration) (*Table, error) {
	if err := xdsconf.CheckFields("RouteConfiguration "+rc.GetName(), rc, "name", "virtual_hosts", "response_headers_to_add",
		"response_headers_to_remove", "request_headers_to_add", "request_headers_to_remove",
		"most_specific_header_mutations_wins", "validate_clusters", "ignore_port_in_host_matching",
		"typed_per_filter_config", "max_direct_response_body_size_bytes", "metadata"); err != nil {
		return nil, err
	}
	t := &Table{Name: rc.GetName(), exact: map[string]*VirtualHost{}, ignorePort: rc.GetIgnorePortInHostMatching(),
		MostSpecificWins: rc.GetMostSpecificHeaderMutationsWins()}
	var err error
	if t.RequestHeaders, err = CompileHeaderOps(rc.GetRequestHeadersToAdd(), rc.GetRequestHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
	}
	if t.ResponseHeaders, err = CompileHeaderOps(rc.GetResponseHeadersToAdd(), rc.GetResponseHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
	}
	if t.perFilter, err = compilePerFilter(rc.GetTypedPerFilterConfig()); err != nil {
		return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
	}
	return t, nil
}

// compiledVhost is a compiled virtual host with its domains and the
// clusters its routes name. It is immutable once built, so a route
// configuration may share it with the one before (see CompileBytes).
type compiledVhost struct {
	vh       *VirtualHost
	domains  []string
	clusters []string
}

// compileVhostFor compiles a virtual host of a table whose per-filter
// configs are tablePF: per-filter configs are layered here once, route
// configuration, then virtual host, then route; the most specific wins.
func compileVhostFor(v *routev3.VirtualHost, tablePF map[string]perFilter) (compiledVhost, error) {
	clusters := map[string]bool{}
	vh, err := compileVhost(v, clusters)
	if err != nil {
		return compiledVhost{}, err
	}
	for _, r := range vh.routes {
		r.merged = mergePerFilter(tablePF, vh.perFilter, r.perFilter)
		for k, v := range r.merged {
			if v.config != nil {
				if r.configs == nil {
					r.configs = map[string]any{}
				}
				r.configs[k] = v.config
			}
		}
	}
	cv := compiledVhost{vh: vh, domains: v.GetDomains()}
	for c := range clusters {
		cv.clusters = append(cv.clusters, c)
	}
	return cv, nil
}

// link indexes the virtual hosts by domain.
func (t *Table) link(vhs []compiledVhost) (*Table, error) {
	clusters := map[string]bool{}
	for _, cv := range vhs {
		for _, c := range cv.clusters {
			clusters[c] = true
		}
		for _, d := range cv.domains {
			d = strings.ToLower(d)
			dup := false
			switch {
			case d == "*":
				dup = t.star != nil
				t.star = cv.vh
			case strings.HasPrefix(d, "*"):
				t.suffix = append(t.suffix, wildHost{d[1:], cv.vh})
			case strings.HasSuffix(d, "*"):
				t.prefix = append(t.prefix, wildHost{d[:len(d)-1], cv.vh})
			default:
				_, dup = t.exact[d]
				t.exact[d] = cv.vh
			}
			if dup {
				return nil, fmt.Errorf("route config %s: duplicate domain %q", t.Name, d)
			}
		}
	}
	// Longer wildcards are more specific; Envoy picks the longest match.
	sort.SliceStable(t.suffix, func(i, j int) bool { return len(t.suffix[i].part) > len(t.suffix[j].part) })
	sort.SliceStable(t.prefix, func(i, j int) bool { return len(t.prefix[i].part) > len(t.prefix[j].part) })
	for c := range clusters {
		t.clusterNames = append(t.clusterNames, c)
	}
	sort.Strings(t.clusterNames)
	return t, nil
}

func compileVhost(v *routev3.VirtualHost, clusters map[string]bool) (*VirtualHost, error) {
	if err := xdsconf.CheckFields("virtual host "+v.GetName(), v, "name", "domains", "routes", "request_headers_to_add",
		"request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove", "typed_per_filter_config",
		"include_request_attempt_count", "include_attempt_count_in_response", "retry_policy", "metadata",
		"per_request_buffer_limit_bytes", "virtual_clusters", "require_tls"); err != nil {
		return nil, err
	}
	if v.GetRequireTls() != routev3.VirtualHost_NONE {
		return nil, fmt.Errorf("virtual host %s: require_tls is not supported", v.GetName())
	}
	if len(v.GetDomains()) == 0 {
		return nil, fmt.Errorf("virtual host %s: no domains", v.GetName())
	}
	vh := &VirtualHost{Name: v.GetName(), AttemptCountInRequest: v.GetIncludeRequestAttemptCount(), AttemptCountInResponse: v.GetIncludeAttemptCountInResponse()}
	var err error
	if vh.RequestHeaders, err = CompileHeaderOps(v.GetRequestHeadersToAdd(), v.GetRequestHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("virtual host %s: %v", v.GetName(), err)
	}
	if vh.ResponseHeaders, err = CompileHeaderOps(v.GetResponseHeadersToAdd(), v.GetResponseHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("virtual host %s: %v", v.GetName(), err)
	}
	if vh.perFilter, err = compilePerFilter(v.GetTypedPerFilterConfig()); err != nil {
		return nil, fmt.Errorf("virtual host %s: %v", v.GetName(), err)
	}
	if v.GetRetryPolicy() != nil {
		if vh.retry, err = compileRetry(v.GetRetryPolicy()); err != nil {
			return nil, fmt.Errorf("virtual host %s: %v", v.GetName(), err)
		}
	}
	for i, r := range v.GetRoutes() {
		rt, err := compileRoute(r, vh, clusters)
		if err != nil {
			return nil, fmt.Errorf("virtual host %s: route %d (%s): %v", v.GetName(), i, r.GetName(), err)
		}
		vh.routes = append(vh.routes, rt)
	}
	return vh, nil
}

func compileRoute(r *routev3.Route, vh *VirtualHost, clusters map[string]bool) (*Route, error) {
	if err := xdsconf.CheckFields("route", r, "name", "match", "route", "redirect", "direct_response", "metadata", "decorator",
		"typed_per_filter_config", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
		"response_headers_to_remove", "per_request_buffer_limit_bytes", "stat_prefix"); err != nil {
		return nil, err
	}
	rt := &Route{Name: r.GetName(), Metadata: filterMetadata(r.GetMetadata())}
	var err error
	if rt.m, err = compileMatch(r.GetMatch()); err != nil {
		return nil, err
	}
	if rt.RequestHeaders, err = CompileHeaderOps(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove()); err != nil {
		return nil, err
	}
	if rt.ResponseHeaders, err = CompileHeaderOps(r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove()); err != nil {
		return nil, err
	}
	if rt.perFilter, err = compilePerFilter(r.GetTypedPerFilterConfig()); err != nil {
		return nil, err
	}
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		rt.Kind = KindRoute
		if rt.Action, err = compileAction(a.Route, vh, clusters); err != nil {
			return nil, err
		}
	case *routev3.Route_Redirect:
		rt.Kind = KindRedirect
		if rt.Redirect, err = compileRedirect(a.Redirect); err != nil {
			return nil, err
		}
	case *routev3.Route_DirectResponse:
		rt.Kind = KindDirect
		rt.Direct = &DirectResponse{Status: int(a.DirectResponse.GetStatus())}
		if rt.Direct.Status < 200 || rt.Direct.Status > 599 {
			return nil, fmt.Errorf("direct_response status %d out of range", rt.Direct.Status)
		}
		if b := a.DirectResponse.GetBody(); b != nil {
			if rt.Direct.Body, err = xdsconf.ReadDataSource(b); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unsupported route action %T", a)
	}
	return rt, nil
}

func compileMatch(m *routev3.RouteMatch) (Match, error) {
	if err := xdsconf.CheckFields("route match", m, "prefix", "path", "safe_regex", "path_separated_prefix", "case_sensitive",
		"headers", "query_parameters", "grpc"); err != nil {
		return Match{}, err
	}
	rm := Match{caseSensitive: m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue(), grpc: m.GetGrpc() != nil}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		rm.kind, rm.value = pathPrefix, p.Prefix
	case *routev3.RouteMatch_Path:
		rm.kind, rm.value = pathExact, p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		rm.kind, rm.value = pathSeparatedPrefix, p.PathSeparatedPrefix
		if strings.HasSuffix(rm.value, "/") || strings.ContainsAny(rm.value, "?#") {
			return rm, fmt.Errorf("path_separated_prefix %q must not end with '/' or contain '?' or '#'", rm.value)
		}
	case *routev3.RouteMatch_SafeRegex:
		rm.kind = pathRegex
		re, err := match.CompileRegex(p.SafeRegex)
		if err != nil {
			return rm, err
		}
		rm.re = re
	default:
		return rm, fmt.Errorf("unsupported path specifier %T", p)
	}
	if !rm.caseSensitive {
		rm.value = strings.ToLower(rm.value)
	}
	for _, h := range m.GetHeaders() {
		hm, err := match.CompileHeader(h)
		if err != nil {
			return rm, err
		}
		rm.headers = append(rm.headers, hm)
	}
	for _, q := range m.GetQueryParameters() {
		qm, err := match.CompileQuery(q)
		if err != nil {
			return rm, err
		}
		rm.query = append(rm.query, qm)
	}
	return rm, nil
}

// envoySubst turns an Envoy/RE2 substitution ("\1") into Go's ("${1}").
func envoySubst(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${" + string(s[i+1]) + "}")
			i++
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func compileRegexRewrite(rw *matcherv3.RegexMatchAndSubstitute) (*regexp.Regexp, string, error) {
	re, err := regexp.Compile(rw.GetPattern().GetRegex())
	if err != nil {
		return nil, "", fmt.Errorf("regex_rewrite: %v", err)
	}
	return re, envoySubst(rw.GetSubstitution()), nil
}

func compileAction(a *routev3.RouteAction, vh *VirtualHost, clusters map[string]bool) (*Action, error) {
	if err := xdsconf.CheckFields("route action", a, "cluster", "cluster_header", "weighted_clusters",
		"cluster_not_found_response_code", "prefix_rewrite", "regex_rewrite", "host_rewrite_literal",
		"auto_host_rewrite", "host_rewrite_header", "append_x_forwarded_host", "timeout", "idle_timeout",
		"retry_policy", "upgrade_configs", "hash_policy", "priority", "max_stream_duration",
		"request_mirror_policies"); err != nil {
		return nil, err
	}
	ra := &Action{NotFoundCode: http.StatusServiceUnavailable, AppendXForwardedHost: a.GetAppendXForwardedHost(),
		Timeout: 15 * time.Second}
	switch a.GetClusterNotFoundResponseCode() {
	case routev3.RouteAction_NOT_FOUND:
		ra.NotFoundCode = http.StatusNotFound
	case routev3.RouteAction_INTERNAL_SERVER_ERROR:
		ra.NotFoundCode = http.StatusInternalServerError
	}
	if msd := a.GetMaxStreamDuration(); msd != nil && (msd.GetMaxStreamDuration() != nil || msd.GetGrpcTimeoutHeaderMax() != nil || msd.GetGrpcTimeoutHeaderOffset() != nil) {
		return nil, fmt.Errorf("max_stream_duration is not supported")
	}
	if err := ra.compileClusters(a, clusters); err != nil {
		return nil, err
	}
	if err := ra.compileRewrites(a); err != nil {
		return nil, err
	}
	if a.Timeout != nil {
		ra.Timeout = a.GetTimeout().AsDuration()
	}
	ra.TimeoutMs = strconv.FormatInt(ra.Timeout.Milliseconds(), 10)
	if a.IdleTimeout != nil {
		ra.IdleTimeout = a.GetIdleTimeout().AsDuration()
	}
	if err := ra.compilePolicies(a, vh, clusters); err != nil {
		return nil, err
	}
	return ra, nil
}

// compileClusters reads where the action forwards: a cluster, a header
// naming one, or weighted clusters.
func (ra *Action) compileClusters(a *routev3.RouteAction, clusters map[string]bool) error {
	switch c := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		ra.Cluster = c.Cluster
		clusters[c.Cluster] = true
	case *routev3.RouteAction_ClusterHeader:
		ra.ClusterHeader = strings.ToLower(c.ClusterHeader)
	case *routev3.RouteAction_WeightedClusters:
		for _, w := range c.WeightedClusters.GetClusters() {
			wc, err := compileWeighted(w)
			if err != nil {
				return err
			}
			ra.Weighted = append(ra.Weighted, wc)
			ra.totalWeight += wc.weight
			clusters[wc.Name] = true
		}
		if ra.totalWeight == 0 {
			return fmt.Errorf("weighted_clusters: total weight is 0")
		}
		if c.WeightedClusters.GetRuntimeKeyPrefix() != "" || c.WeightedClusters.GetHeaderName() != "" {
			return fmt.Errorf("weighted_clusters: runtime_key_prefix and header_name are not supported")
		}
	default:
		return fmt.Errorf("unsupported cluster specifier %T", c)
	}
	return nil
}

func compileWeighted(w *routev3.WeightedCluster_ClusterWeight) (WeightedCluster, error) {
	if err := xdsconf.CheckFields("weighted cluster "+w.GetName(), w, "name", "weight", "request_headers_to_add",
		"request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove",
		"typed_per_filter_config", "host_rewrite_literal", "metadata_match"); err != nil {
		return WeightedCluster{}, err
	}
	if w.GetMetadataMatch() != nil {
		return WeightedCluster{}, fmt.Errorf("weighted cluster %s: metadata_match is not supported", w.GetName())
	}
	wc := WeightedCluster{Name: w.GetName(), weight: uint64(w.GetWeight().GetValue()), HostLiteral: w.GetHostRewriteLiteral()}
	var err error
	if wc.RequestHeaders, err = CompileHeaderOps(w.GetRequestHeadersToAdd(), w.GetRequestHeadersToRemove()); err != nil {
		return wc, err
	}
	if wc.ResponseHeaders, err = CompileHeaderOps(w.GetResponseHeadersToAdd(), w.GetResponseHeadersToRemove()); err != nil {
		return wc, err
	}
	wc.perFilter, err = compilePerFilter(w.GetTypedPerFilterConfig())
	return wc, err
}

// compileRewrites reads the path and host rewrites.
func (ra *Action) compileRewrites(a *routev3.RouteAction) error {
	if a.GetPrefixRewrite() != "" {
		ra.prefixRewrite, ra.hasPrefixRW = a.GetPrefixRewrite(), true
	}
	if rw := a.GetRegexRewrite(); rw != nil {
		var err error
		if ra.regexRewrite, ra.regexSubst, err = compileRegexRewrite(rw); err != nil {
			return err
		}
	}
	switch h := a.GetHostRewriteSpecifier().(type) {
	case nil:
	case *routev3.RouteAction_HostRewriteLiteral:
		ra.HostLiteral = h.HostRewriteLiteral
	case *routev3.RouteAction_AutoHostRewrite:
		ra.AutoHostRewrite = h.AutoHostRewrite.GetValue()
	case *routev3.RouteAction_HostRewriteHeader:
		ra.HostHeader = h.HostRewriteHeader
	default:
		return fmt.Errorf("unsupported host rewrite %T", h)
	}
	return nil
}

// compilePolicies reads the retry policy (the virtual host's when the
// route has none), the mirrors and the upgrades.
func (ra *Action) compilePolicies(a *routev3.RouteAction, vh *VirtualHost, clusters map[string]bool) error {
	var err error
	if a.GetRetryPolicy() != nil {
		if ra.Retry, err = compileRetry(a.GetRetryPolicy()); err != nil {
			return err
		}
	} else {
		ra.Retry = vh.retry
	}
	if ra.Mirrors, err = compileMirrors(a.GetRequestMirrorPolicies(), clusters); err != nil {
		return err
	}
	for _, u := range a.GetUpgradeConfigs() {
		if !strings.EqualFold(u.GetUpgradeType(), "websocket") {
			return fmt.Errorf("upgrade type %q is not supported", u.GetUpgradeType())
		}
		ra.WebSocket = UpgradeOff
		if u.GetEnabled() == nil || u.GetEnabled().GetValue() {
			ra.WebSocket = UpgradeOn
		}
	}
	return nil
}

func compileRedirect(r *routev3.RedirectAction) (*Redirect, error) {
	rd := &Redirect{host: r.GetHostRedirect(), port: r.GetPortRedirect(), stripQuery: r.GetStripQuery()}
	switch s := r.GetSchemeRewriteSpecifier().(type) {
	case *routev3.RedirectAction_HttpsRedirect:
		if s.HttpsRedirect {
			rd.scheme = "https"
		}
	case *routev3.RedirectAction_SchemeRedirect:
		rd.scheme = strings.ToLower(s.SchemeRedirect)
	}
	switch p := r.GetPathRewriteSpecifier().(type) {
	case *routev3.RedirectAction_PathRedirect:
		rd.path = p.PathRedirect
	case *routev3.RedirectAction_PrefixRewrite:
		rd.prefixRewrite, rd.hasPrefixRW = p.PrefixRewrite, true
	case *routev3.RedirectAction_RegexRewrite:
		var err error
		if rd.regex, rd.subst, err = compileRegexRewrite(p.RegexRewrite); err != nil {
			return nil, err
		}
	}
	switch r.GetResponseCode() {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		rd.Code = 301
	case routev3.RedirectAction_FOUND:
		rd.Code = 302
	case routev3.RedirectAction_SEE_OTHER:
		rd.Code = 303
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		rd.Code = 307
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		rd.Code = 308
	default:
		return nil, fmt.Errorf("unknown redirect response code %v", r.GetResponseCode())
	}
	return rd, nil
}

func (t *Table) allVhosts() []*VirtualHost {
	var out []*VirtualHost
	for _, vh := range t.exact {
		out = append(out, vh)
	}
	for _, w := range append(append([]wildHost(nil), t.suffix...), t.prefix...) {
		out = append(out, w.vh)
	}
	if t.star != nil {
		out = append(out, t.star)
	}
	return out
}

// filterMetadata is a Metadata's filter_metadata as Go values, by
// namespace; typed_filter_metadata is not read.
func filterMetadata(m *corev3.Metadata) map[string]map[string]any {
	if len(m.GetFilterMetadata()) == 0 {
		return nil
	}
	out := make(map[string]map[string]any, len(m.GetFilterMetadata()))
	for ns, st := range m.GetFilterMetadata() {
		out[ns] = st.AsMap()
	}
	return out
}

// FilterConfigs are the route's per-filter configs by filter name (its
// typed_per_filter_config over its virtual host's and configuration's),
// nil when there are none.
func (rt *Route) FilterConfigs() map[string]any { return rt.configs }

// FilterEnabled says whether the filter named runs on this route: the
// most specific typed_per_filter_config entry for it decides, else
// byDefault (the HCM entry's own disabled).
func (rt *Route) FilterEnabled(name string, byDefault bool) bool {
	if pf, ok := rt.merged[name]; ok {
		return !pf.disabled
	}
	return byDefault
}

func mergePerFilter(levels ...map[string]perFilter) map[string]perFilter {
	var m map[string]perFilter
	for _, l := range levels {
		for k, v := range l {
			if m == nil {
				m = map[string]perFilter{}
			}
			m[k] = v
		}
	}
	return m
}
