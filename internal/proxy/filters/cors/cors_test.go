package cors

import (
	"net/http"
	"net/http/httptest"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/filters/filtertest"
)

// The policy of Envoy Gateway's custom-filter-order case.
func policy(t *testing.T, forwardNoMatch bool) *Policy {
	p, err := Compile(&corsv3.CorsPolicy{
		AllowOriginStringMatch: []*matcherv3.StringMatcher{
			{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `https://.*\.test\.com:8080`}}},
			{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "https://www.test.org:8080"}},
		},
		AllowMethods: "GET, POST", AllowHeaders: "x-header-1, x-header-2", ExposeHeaders: "x-header-3", MaxAge: "86400",
		AllowCredentials:             wrapperspb.Bool(true),
		ForwardNotMatchingPreflights: wrapperspb.Bool(forwardNoMatch),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCORS(t *testing.T) {
	cases := []struct {
		name          string
		method        string
		origin        string
		preflight     bool
		forwardNo     bool
		passed        bool
		allowOrigin   string
		allowMethods  string
		exposeHeaders string
	}{
		{"preflight, allowed origin", "OPTIONS", "https://foo.test.com:8080", true, false, false, "https://foo.test.com:8080", "GET, POST", ""},
		{"preflight, other origin, not forwarded", "OPTIONS", "https://evil.example", true, false, false, "", "", ""},
		{"preflight, other origin, forwarded", "OPTIONS", "https://evil.example", true, true, true, "", "", ""},
		{"request, allowed origin", "GET", "https://www.test.org:8080", false, false, true, "https://www.test.org:8080", "", "x-header-3"},
		{"request, other origin", "GET", "https://evil.example", false, false, true, "", "", ""},
		{"request without an origin", "GET", "", false, false, true, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "http://x/", nil)
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			if c.preflight {
				r.Header.Set("Access-Control-Request-Method", "GET")
			}
			res := filtertest.Run(&Filter{name: FilterName}, r, filtertest.Options{PerRoute: map[string]any{FilterName: policy(t, c.forwardNo)}})
			h := res.Header
			if res.Passed != c.passed || res.Code != http.StatusOK || h.Get("Access-Control-Allow-Origin") != c.allowOrigin ||
				h.Get("Access-Control-Allow-Methods") != c.allowMethods || h.Get("Access-Control-Expose-Headers") != c.exposeHeaders {
				t.Fatalf("passed=%v %d %v", res.Passed, res.Code, h)
			}
			if c.allowOrigin != "" && h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Fatal("no allow-credentials")
			}
		})
	}
}

func TestRuntimeFractionsRejected(t *testing.T) {
	p := &corsv3.CorsPolicy{FilterEnabled: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 50}}}
	if _, err := Compile(p); err == nil {
		t.Fatal("filter_enabled accepted")
	}
}
