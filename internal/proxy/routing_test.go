package proxy_test

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// basic builds a snapshot: one listener on port with route config rc and
// one EDS cluster per name -> addresses.
func basic(port uint32, rc *routev3.RouteConfiguration, clusters map[string][]string) map[string][]types.Resource {
	res := map[string][]types.Resource{
		resourcev3.ListenerType: {listener("default/eg/http", port, rc.GetName(), nil)},
		resourcev3.RouteType:    {rc},
	}
	for name, addrs := range clusters {
		res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType], edsCluster(name, nil))
		res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType], cla(name, addrs...))
	}
	if res[resourcev3.ClusterType] == nil {
		res[resourcev3.ClusterType] = []types.Resource{}
		res[resourcev3.EndpointType] = []types.Resource{}
	}
	return res
}

func exactHeader(name, v string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
		StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}}}
}

func TestRoutingMatrix(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	names := []string{"exact", "suffix", "prefixdom", "star", "path", "prefix", "regex", "sep", "hdr", "query", "nocase", "longsuffix"}
	clusters := map[string][]string{}
	for _, n := range names {
		clusters[n] = []string{backend(t, n)}
	}
	r := func(m *routev3.RouteMatch, c string) *routev3.Route {
		return &routev3.Route{Name: c, Match: m, Action: routeTo(c)}
	}
	rc := &routev3.RouteConfiguration{Name: "default/eg/http", IgnorePortInHostMatching: true, VirtualHosts: []*routev3.VirtualHost{
		{Name: "exact", Domains: []string{"www.example.com"}, Routes: []*routev3.Route{r(prefix("/"), "exact")}},
		{Name: "suffix", Domains: []string{"*.example.com"}, Routes: []*routev3.Route{r(prefix("/"), "suffix")}},
		{Name: "longsuffix", Domains: []string{"*.api.example.com"}, Routes: []*routev3.Route{r(prefix("/"), "longsuffix")}},
		{Name: "prefixdom", Domains: []string{"foo.*"}, Routes: []*routev3.Route{r(prefix("/"), "prefixdom")}},
		{Name: "paths", Domains: []string{"paths.test"}, Routes: []*routev3.Route{
			r(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/exact"}}, "path"),
			r(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/re/[0-9]+"}}}, "regex"),
			r(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/sep"}}, "sep"),
			r(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/hdr"}, Headers: []*routev3.HeaderMatcher{exactHeader("x-version", "v2")}}, "hdr"),
			r(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/q"}, QueryParameters: []*routev3.QueryParameterMatcher{{
				Name: "debug", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "1"}}}}}}, "query"),
			r(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/CaSe"}, CaseSensitive: wrapperspb.Bool(false)}, "nocase"),
			r(prefix("/p"), "prefix"),
		}},
		{Name: "star", Domains: []string{"*"}, Routes: []*routev3.Route{r(prefix("/"), "star")}},
	}}
	h.pushAndWait(t, basic(port, rc, clusters))

	cases := []struct {
		host, uri string
		hdr       []string
		want      string // backend, or "404"
	}{
		{"www.example.com", "/", nil, "exact"},
		{"WWW.Example.com:8080", "/", nil, "exact"},
		{"a.example.com", "/", nil, "suffix"},
		{"x.api.example.com", "/", nil, "longsuffix"},
		{"example.com", "/", nil, "star"},
		{"foo.bar", "/", nil, "prefixdom"},
		{"other", "/", nil, "star"},
		{"paths.test", "/exact", nil, "path"},
		{"paths.test", "/exact?x=1", nil, "path"},
		{"paths.test", "/exact/", nil, "404"},
		{"paths.test", "/re/123", nil, "regex"},
		{"paths.test", "/re/12a", nil, "404"},
		{"paths.test", "/sep", nil, "sep"},
		{"paths.test", "/sep/x", nil, "sep"},
		{"paths.test", "/sep?x", nil, "sep"},
		{"paths.test", "/separate", nil, "404"},
		{"paths.test", "/hdr", []string{"x-version", "v2"}, "hdr"},
		{"paths.test", "/hdr", []string{"x-version", "v1"}, "404"},
		{"paths.test", "/q?debug=1", nil, "query"},
		{"paths.test", "/q?debug=2", nil, "404"},
		{"paths.test", "/case/x", nil, "nocase"},
		{"paths.test", "/CASE", nil, "nocase"},
		{"paths.test", "/PREFIX", nil, "404"},
		{"paths.test", "/prefix", nil, "prefix"},
		{"paths.test", "/nothing", nil, "404"},
	}
	for _, c := range cases {
		res := get(t, port, c.host, c.uri, c.hdr...)
		got := res.echo.Backend
		if res.code == 404 {
			got = "404"
		}
		if got != c.want {
			t.Errorf("%s %s %v: got %q (%d), want %q", c.host, c.uri, c.hdr, got, res.code, c.want)
		}
	}
	// Envoy's 404 for no route: empty body, NR in the access log.
	res := get(t, port, "paths.test", "/nothing")
	if res.body != "" {
		t.Errorf("404 body = %q, want empty", res.body)
	}
	if !strings.Contains(h.log.String(), `"GET /nothing HTTP/1.1" 404 NR 0 0 `) {
		t.Errorf("access log lacks the NR line:\n%s", h.log.String())
	}
}

var _ = clusterv3.Cluster{}
var _ = corev3.Address{}

func strMatch(exact string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: exact}}
}
