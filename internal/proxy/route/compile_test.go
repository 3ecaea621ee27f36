package route

import (
	"net/http/httptest"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
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
		if _, err := CompileConfig(rc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
}

func TestRedirectLocation(t *testing.T) {
	m := &Match{kind: pathPrefix, value: "/old"}
	rd := &Redirect{scheme: "https", Code: 301}
	r := httptest.NewRequest("GET", "http://h.test:8080/old/x?q=1", nil)
	if got := rd.location(r, m); got != "https://h.test:8080/old/x?q=1" {
		t.Errorf("got %s", got)
	}
	rd = &Redirect{path: "/new", stripQuery: true}
	if got := rd.location(r, m); got != "http://h.test:8080/new" {
		t.Errorf("got %s", got)
	}
}
