package proxy

import (
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

func TestEnvoySubst(t *testing.T) {
	if got := envoySubst(`/\2/\1$x`); got != `/${2}/${1}$$x` {
		t.Errorf("got %s", got)
	}
}

func TestCompileRejects(t *testing.T) {
	cases := map[string]*routev3.RouteConfiguration{
		"duplicate domain": {Name: "r", VirtualHosts: []*routev3.VirtualHost{
			{Name: "a", Domains: []string{"x"}}, {Name: "b", Domains: []string{"x"}}}},
		"path_separated_prefix": {Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "a", Domains: []string{"x"}, Routes: []*routev3.Route{{
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/a/"}},
			Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200}}}}}}},
		"require_tls":               {Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "a", Domains: []string{"x"}, RequireTls: routev3.VirtualHost_ALL}}},
		"retry_on":                  {Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "a", Domains: []string{"x"}, RetryPolicy: &routev3.RetryPolicy{RetryOn: "http3-post-connect-failure"}}}},
		"unsupported field(s) vhds": {Name: "r", Vhds: &routev3.Vhds{}},
	}
	for want, rc := range cases {
		if _, err := compileRouteConfig(rc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
}

func TestRedirectLocation(t *testing.T) {
	m := &routeMatch{kind: pathPrefix, value: "/old"}
	rd := &redirect{scheme: "https", code: 301}
	r := httptest.NewRequest("GET", "http://h.test:8080/old/x?q=1", nil)
	if got := rd.location(r, m); got != "https://h.test:8080/old/x?q=1" {
		t.Errorf("got %s", got)
	}
	rd = &redirect{path: "/new", stripQuery: true}
	if got := rd.location(r, m); got != "http://h.test:8080/new" {
		t.Errorf("got %s", got)
	}
}

// pseudoName must agree with the strings.ToLower switch it replaced.
func TestPseudoNameMatchesToLower(t *testing.T) {
	for _, n := range []string{":PATH", ":path", ":Method", ":AUTHORITY", "Host", "HOST", "host", "x-request-id",
		"", ":pat", "hoſt", "\u212aey", ":authorİty", "X-ENVOY-ORIGINAL-PATH"} {
		want := strings.ToLower(n)
		switch want {
		case ":authority", "host", ":path", ":method":
		default:
			want = ""
		}
		got := pseudoName(n)
		switch got {
		case ":authority", "host", ":path", ":method":
		default:
			got = ""
		}
		if got != want {
			t.Errorf("pseudoName(%q) = %q, ToLower gives %q", n, got, want)
		}
	}
	a := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 80}
	b := &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 80}
	for _, x := range []*net.TCPAddr{a, a, b, a, {IP: net.ParseIP("fe80::1"), Port: 8, Zone: "eth0"}} {
		if got := localAddrString(x); got != x.String() {
			t.Errorf("localAddrString = %q, want %q", got, x.String())
		}
	}
}

// The router is required: an HCM whose only filter is an optional unknown
// one (skipped) has none, and one with the router compiles without running
// it as a filter.
func TestCompileHCMRouter(t *testing.T) {
	unknown := &hcmv3.HttpFilter{Name: "x", IsOptional: true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/unknown.Filter"}}}
	router, err := anypb.New(&routerv3.Router{SuppressEnvoyHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	rds := &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "rc",
		ConfigSource: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}}
	if _, _, err := compileHCM(&hcmv3.HttpConnectionManager{RouteSpecifier: rds, HttpFilters: []*hcmv3.HttpFilter{unknown}},
		filters.BuildContext{}); err == nil || !strings.Contains(err.Error(), "the router is required") {
		t.Errorf("no router: %v", err)
	}
	hc, _, err := compileHCM(&hcmv3.HttpConnectionManager{RouteSpecifier: rds, HttpFilters: []*hcmv3.HttpFilter{unknown,
		{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}}}, filters.BuildContext{})
	if err != nil || len(hc.filters) != 0 || !hc.suppressEnvoy {
		t.Errorf("router only: err %v, filters %d, suppressEnvoy %v", err, len(hc.filters), hc != nil && hc.suppressEnvoy)
	}
}
