package proxy

import (
	"fmt"
	"net/http"
	"os"
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
)

// routeTable is a compiled, immutable RouteConfiguration.
type routeTable struct {
	name         string
	exact        map[string]*vhost
	suffix       []wildHost // "*.example.com", longest first
	prefix       []wildHost // "example.*", longest first
	star         *vhost
	ignorePort   bool
	req, resp    headerOps
	mostSpecific bool
	perFilter    map[string]perFilter
	clusterNames []string
}

type wildHost struct {
	part string
	vh   *vhost
}

type vhost struct {
	name             string
	routes           []*route
	req, resp        headerOps
	perFilter        map[string]perFilter
	attemptCountReq  bool
	attemptCountResp bool
	retry            *retryPolicy
}

type routeKind int

const (
	kindRoute routeKind = iota
	kindRedirect
	kindDirect
)

type route struct {
	name      string
	m         routeMatch
	kind      routeKind
	action    *routeAction
	redirect  *redirect
	direct    *directResponse
	req, resp headerOps
	perFilter map[string]perFilter
	merged    map[string]perFilter // with the virtual host's and table's
}

type pathKind int

const (
	pathPrefix pathKind = iota
	pathExact
	pathRegex
	pathSeparatedPrefix
)

type routeMatch struct {
	kind          pathKind
	value         string
	re            *regexp.Regexp
	caseSensitive bool
	headers       []*match.Header
	query         []*match.Query
	grpc          bool
}

type routeAction struct {
	cluster       string
	clusterHeader string
	weighted      []weightedCluster
	totalWeight   uint64
	notFoundCode  int
	prefixRewrite string
	hasPrefixRW   bool
	regexRewrite  *regexp.Regexp
	regexSubst    string
	hostLiteral   string
	autoHost      bool
	hostHeader    string
	appendXFH     bool
	timeout       time.Duration // 0: none
	timeoutMs     string        // timeout in milliseconds, for x-envoy-expected-rq-timeout-ms
	idleTimeout   time.Duration
	retry         *retryPolicy
	websocket     upgradeSetting // the route's upgrade_configs entry for websocket
	mirrors       []mirrorPolicy
}

type weightedCluster struct {
	name        string
	weight      uint64
	req, resp   headerOps
	perFilter   map[string]perFilter
	hostLiteral string
}

type redirect struct {
	scheme        string
	host          string
	port          uint32
	path          string
	prefixRewrite string
	hasPrefixRW   bool
	regex         *regexp.Regexp
	subst         string
	code          int
	stripQuery    bool
}

type directResponse struct {
	status int
	body   string
}

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

func compileRouteConfig(rc *routev3.RouteConfiguration) (*routeTable, error) {
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
func newRouteTable(rc *routev3.RouteConfiguration) (*routeTable, error) {
	if err := checkFields("RouteConfiguration "+rc.GetName(), rc, "name", "virtual_hosts", "response_headers_to_add",
		"response_headers_to_remove", "request_headers_to_add", "request_headers_to_remove",
		"most_specific_header_mutations_wins", "validate_clusters", "ignore_port_in_host_matching",
		"typed_per_filter_config", "max_direct_response_body_size_bytes", "metadata"); err != nil {
		return nil, err
	}
	t := &routeTable{name: rc.GetName(), exact: map[string]*vhost{}, ignorePort: rc.GetIgnorePortInHostMatching(),
		mostSpecific: rc.GetMostSpecificHeaderMutationsWins()}
	var err error
	if t.req, err = compileHeaderOps(rc.GetRequestHeadersToAdd(), rc.GetRequestHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
	}
	if t.resp, err = compileHeaderOps(rc.GetResponseHeadersToAdd(), rc.GetResponseHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
	}
	if t.perFilter, err = compilePerFilter(rc.GetTypedPerFilterConfig()); err != nil {
		return nil, fmt.Errorf("route config %s: %v", rc.GetName(), err)
	}
	return t, nil
}

// compiledVhost is a compiled virtual host with its domains and the
// clusters its routes name. It is immutable once built, so a route
// configuration may share it with the one before (see compileRouteBytes).
type compiledVhost struct {
	vh       *vhost
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
	}
	cv := compiledVhost{vh: vh, domains: v.GetDomains()}
	for c := range clusters {
		cv.clusters = append(cv.clusters, c)
	}
	return cv, nil
}

// link indexes the virtual hosts by domain.
func (t *routeTable) link(vhs []compiledVhost) (*routeTable, error) {
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
				return nil, fmt.Errorf("route config %s: duplicate domain %q", t.name, d)
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

func compileVhost(v *routev3.VirtualHost, clusters map[string]bool) (*vhost, error) {
	if err := checkFields("virtual host "+v.GetName(), v, "name", "domains", "routes", "request_headers_to_add",
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
	vh := &vhost{name: v.GetName(), attemptCountReq: v.GetIncludeRequestAttemptCount(), attemptCountResp: v.GetIncludeAttemptCountInResponse()}
	var err error
	if vh.req, err = compileHeaderOps(v.GetRequestHeadersToAdd(), v.GetRequestHeadersToRemove()); err != nil {
		return nil, fmt.Errorf("virtual host %s: %v", v.GetName(), err)
	}
	if vh.resp, err = compileHeaderOps(v.GetResponseHeadersToAdd(), v.GetResponseHeadersToRemove()); err != nil {
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

func compileRoute(r *routev3.Route, vh *vhost, clusters map[string]bool) (*route, error) {
	if err := checkFields("route", r, "name", "match", "route", "redirect", "direct_response", "metadata", "decorator",
		"typed_per_filter_config", "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
		"response_headers_to_remove", "per_request_buffer_limit_bytes", "stat_prefix"); err != nil {
		return nil, err
	}
	rt := &route{name: r.GetName()}
	var err error
	if rt.m, err = compileMatch(r.GetMatch()); err != nil {
		return nil, err
	}
	if rt.req, err = compileHeaderOps(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove()); err != nil {
		return nil, err
	}
	if rt.resp, err = compileHeaderOps(r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove()); err != nil {
		return nil, err
	}
	if rt.perFilter, err = compilePerFilter(r.GetTypedPerFilterConfig()); err != nil {
		return nil, err
	}
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		rt.kind = kindRoute
		if rt.action, err = compileAction(a.Route, vh, clusters); err != nil {
			return nil, err
		}
	case *routev3.Route_Redirect:
		rt.kind = kindRedirect
		if rt.redirect, err = compileRedirect(a.Redirect); err != nil {
			return nil, err
		}
	case *routev3.Route_DirectResponse:
		rt.kind = kindDirect
		rt.direct = &directResponse{status: int(a.DirectResponse.GetStatus())}
		if rt.direct.status < 200 || rt.direct.status > 599 {
			return nil, fmt.Errorf("direct_response status %d out of range", rt.direct.status)
		}
		if b := a.DirectResponse.GetBody(); b != nil {
			if rt.direct.body, err = readDataSource(b); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unsupported route action %T", a)
	}
	return rt, nil
}

func compileMatch(m *routev3.RouteMatch) (routeMatch, error) {
	if err := checkFields("route match", m, "prefix", "path", "safe_regex", "path_separated_prefix", "case_sensitive",
		"headers", "query_parameters", "grpc"); err != nil {
		return routeMatch{}, err
	}
	rm := routeMatch{caseSensitive: m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue(), grpc: m.GetGrpc() != nil}
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

func compileAction(a *routev3.RouteAction, vh *vhost, clusters map[string]bool) (*routeAction, error) {
	if err := checkFields("route action", a, "cluster", "cluster_header", "weighted_clusters",
		"cluster_not_found_response_code", "prefix_rewrite", "regex_rewrite", "host_rewrite_literal",
		"auto_host_rewrite", "host_rewrite_header", "append_x_forwarded_host", "timeout", "idle_timeout",
		"retry_policy", "upgrade_configs", "hash_policy", "priority", "max_stream_duration",
		"request_mirror_policies"); err != nil {
		return nil, err
	}
	ra := &routeAction{notFoundCode: http.StatusServiceUnavailable, appendXFH: a.GetAppendXForwardedHost(),
		timeout: 15 * time.Second}
	switch a.GetClusterNotFoundResponseCode() {
	case routev3.RouteAction_NOT_FOUND:
		ra.notFoundCode = http.StatusNotFound
	case routev3.RouteAction_INTERNAL_SERVER_ERROR:
		ra.notFoundCode = http.StatusInternalServerError
	}
	if msd := a.GetMaxStreamDuration(); msd != nil && (msd.GetMaxStreamDuration() != nil || msd.GetGrpcTimeoutHeaderMax() != nil || msd.GetGrpcTimeoutHeaderOffset() != nil) {
		return nil, fmt.Errorf("max_stream_duration is not supported")
	}
	switch c := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		ra.cluster = c.Cluster
		clusters[c.Cluster] = true
	case *routev3.RouteAction_ClusterHeader:
		ra.clusterHeader = strings.ToLower(c.ClusterHeader)
	case *routev3.RouteAction_WeightedClusters:
		for _, w := range c.WeightedClusters.GetClusters() {
			if err := checkFields("weighted cluster "+w.GetName(), w, "name", "weight", "request_headers_to_add",
				"request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove",
				"typed_per_filter_config", "host_rewrite_literal", "metadata_match"); err != nil {
				return nil, err
			}
			if w.GetMetadataMatch() != nil {
				return nil, fmt.Errorf("weighted cluster %s: metadata_match is not supported", w.GetName())
			}
			wc := weightedCluster{name: w.GetName(), weight: uint64(w.GetWeight().GetValue()), hostLiteral: w.GetHostRewriteLiteral()}
			var err error
			if wc.req, err = compileHeaderOps(w.GetRequestHeadersToAdd(), w.GetRequestHeadersToRemove()); err != nil {
				return nil, err
			}
			if wc.resp, err = compileHeaderOps(w.GetResponseHeadersToAdd(), w.GetResponseHeadersToRemove()); err != nil {
				return nil, err
			}
			if wc.perFilter, err = compilePerFilter(w.GetTypedPerFilterConfig()); err != nil {
				return nil, err
			}
			ra.weighted = append(ra.weighted, wc)
			ra.totalWeight += wc.weight
			clusters[wc.name] = true
		}
		if ra.totalWeight == 0 {
			return nil, fmt.Errorf("weighted_clusters: total weight is 0")
		}
		if c.WeightedClusters.GetRuntimeKeyPrefix() != "" || c.WeightedClusters.GetHeaderName() != "" {
			return nil, fmt.Errorf("weighted_clusters: runtime_key_prefix and header_name are not supported")
		}
	default:
		return nil, fmt.Errorf("unsupported cluster specifier %T", c)
	}
	if a.GetPrefixRewrite() != "" {
		ra.prefixRewrite, ra.hasPrefixRW = a.GetPrefixRewrite(), true
	}
	if rw := a.GetRegexRewrite(); rw != nil {
		var err error
		if ra.regexRewrite, ra.regexSubst, err = compileRegexRewrite(rw); err != nil {
			return nil, err
		}
	}
	switch h := a.GetHostRewriteSpecifier().(type) {
	case nil:
	case *routev3.RouteAction_HostRewriteLiteral:
		ra.hostLiteral = h.HostRewriteLiteral
	case *routev3.RouteAction_AutoHostRewrite:
		ra.autoHost = h.AutoHostRewrite.GetValue()
	case *routev3.RouteAction_HostRewriteHeader:
		ra.hostHeader = h.HostRewriteHeader
	default:
		return nil, fmt.Errorf("unsupported host rewrite %T", h)
	}
	if a.Timeout != nil {
		ra.timeout = a.GetTimeout().AsDuration()
	}
	ra.timeoutMs = strconv.FormatInt(ra.timeout.Milliseconds(), 10)
	if a.IdleTimeout != nil {
		ra.idleTimeout = a.GetIdleTimeout().AsDuration()
	}
	if a.GetRetryPolicy() != nil {
		var err error
		if ra.retry, err = compileRetry(a.GetRetryPolicy()); err != nil {
			return nil, err
		}
	} else {
		// A route without its own policy inherits the virtual host's.
		ra.retry = vh.retry
	}
	var err error
	if ra.mirrors, err = compileMirrors(a.GetRequestMirrorPolicies(), clusters); err != nil {
		return nil, err
	}
	for _, u := range a.GetUpgradeConfigs() {
		if !strings.EqualFold(u.GetUpgradeType(), "websocket") {
			return nil, fmt.Errorf("upgrade type %q is not supported", u.GetUpgradeType())
		}
		ra.websocket = upgradeOff
		if u.GetEnabled() == nil || u.GetEnabled().GetValue() {
			ra.websocket = upgradeOn
		}
	}
	return ra, nil
}

func compileRedirect(r *routev3.RedirectAction) (*redirect, error) {
	rd := &redirect{host: r.GetHostRedirect(), port: r.GetPortRedirect(), stripQuery: r.GetStripQuery()}
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
		rd.code = 301
	case routev3.RedirectAction_FOUND:
		rd.code = 302
	case routev3.RedirectAction_SEE_OTHER:
		rd.code = 303
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		rd.code = 307
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		rd.code = 308
	default:
		return nil, fmt.Errorf("unknown redirect response code %v", r.GetResponseCode())
	}
	return rd, nil
}

// readDataSource reads an inline or file DataSource (direct responses, local
// reply bodies, TLS material).
func readDataSource(d *corev3.DataSource) (string, error) {
	switch s := d.GetSpecifier().(type) {
	case *corev3.DataSource_InlineString:
		return s.InlineString, nil
	case *corev3.DataSource_InlineBytes:
		return string(s.InlineBytes), nil
	case *corev3.DataSource_Filename:
		b, err := os.ReadFile(s.Filename)
		if err != nil {
			return "", fmt.Errorf("data source: %v", err)
		}
		return string(b), nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("unsupported data source %T", s)
	}
}

func (t *routeTable) allVhosts() []*vhost {
	var out []*vhost
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
