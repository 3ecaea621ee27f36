package proxy_test

import (
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func hv(k, v string, act corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: act}
}

func TestHeaderOpsAndRewrites(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := backend(t, "a")
	over := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	rc := &routev3.RouteConfiguration{Name: "rc",
		RequestHeadersToAdd:     []*corev3.HeaderValueOption{hv("x-level", "config", over)},
		ResponseHeadersToAdd:    []*corev3.HeaderValueOption{hv("x-resp-config", "1", over)},
		ResponseHeadersToRemove: []string{"x-drop-me"},
		VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
			RequestHeadersToAdd:    []*corev3.HeaderValueOption{hv("x-level", "vhost", over), hv("x-vhost", "1", over)},
			RequestHeadersToRemove: []string{"x-secret"},
			Routes: []*routev3.Route{
				{Match: prefix("/api/"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier:     &routev3.RouteAction_Cluster{Cluster: "a"},
					PrefixRewrite:        "/v2/",
					HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "internal.svc"}}},
					RequestHeadersToAdd:  []*corev3.HeaderValueOption{hv("x-level", "route", over), hv("x-multi", "two", corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD), hv("x-client", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", over)},
					ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x-resp-route", "1", over)}},
				{Match: prefix("/re/"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "a"},
					RegexRewrite: &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^/re/([a-z]+)/([0-9]+)$"},
						Substitution: "/\\2/\\1"}}}},
			}}}}
	h.pushAndWait(t, basic(port, rc, map[string][]string{"a": {be}}))

	res := get(t, port, "example.com", "/api/users?q=1", "x-secret", "s", "x-multi", "one")
	e := res.echo
	if e.URI != "/v2/users?q=1" || e.Host != "internal.svc" {
		t.Errorf("rewrite: uri %q host %q", e.URI, e.Host)
	}
	// Route config level is applied last, so it wins by default.
	if got := e.Headers["X-Level"]; len(got) != 1 || got[0] != "config" {
		t.Errorf("x-level = %v, want [config]", got)
	}
	if e.Headers["X-Secret"] != nil || e.Headers["X-Vhost"] == nil {
		t.Errorf("vhost ops: %v", e.Headers)
	}
	if got := strings.Join(e.Headers["X-Multi"], ","); got != "one,two" {
		t.Errorf("x-multi = %q", got)
	}
	if got := e.Headers["X-Client"]; len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("x-client = %v", got)
	}
	if e.Headers["X-Envoy-Original-Path"][0] != "/api/users?q=1" || e.Headers["X-Request-Id"] == nil || e.Headers["X-Forwarded-Proto"][0] != "http" {
		t.Errorf("envoy headers: %v", e.Headers)
	}
	if res.hdr.Get("x-resp-config") != "1" || res.hdr.Get("x-resp-route") != "1" || res.hdr.Get("server") != "envoy" {
		t.Errorf("response headers: %v", res.hdr)
	}
	res = get(t, port, "example.com", "/re/abc/42?x=y")
	if res.echo.URI != "/42/abc?x=y" {
		t.Errorf("regex rewrite: %q", res.echo.URI)
	}
}

func TestWeightedClusters(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: prefix("/"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
				{Name: "a", Weight: wrapperspb.UInt32(80)},
				{Name: "b", Weight: wrapperspb.UInt32(20), ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x-canary", "1", 0)}},
			}}}}}}}}}}
	h.pushAndWait(t, basic(port, rc, map[string][]string{"a": {backend(t, "a")}, "b": {backend(t, "b")}}))
	const n = 1000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		res := get(t, port, "x", "/")
		counts[res.echo.Backend]++
		if res.echo.Backend == "b" && res.hdr.Get("x-canary") != "1" {
			t.Fatal("weighted cluster response header missing")
		}
	}
	// Binomial(1000, 0.2): sd ~ 12.6; 5 sd is a flake-free bound.
	if d := math.Abs(float64(counts["b"]) - 200); d > 63 || counts["a"]+counts["b"] != n {
		t.Errorf("split = %v, want ~800/200", counts)
	}
}

func TestRetriesAndAttemptCount(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	var calls atomic.Int32
	flaky := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%3 != 0 {
			w.WriteHeader(503)
			return
		}
		echoHandler("flaky").ServeHTTP(w, r)
	}))
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		IncludeAttemptCountInResponse: true, IncludeRequestAttemptCount: true,
		Routes: []*routev3.Route{{Match: prefix("/"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "f"},
			RetryPolicy: &routev3.RetryPolicy{RetryOn: "5xx", NumRetries: wrapperspb.UInt32(2),
				RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Millisecond)}}}}}}}}}
	h.pushAndWait(t, basic(port, rc, map[string][]string{"f": {flaky}}))
	res := get(t, port, "x", "/")
	if res.code != 200 || res.hdr.Get("x-envoy-attempt-count") != "3" || res.echo.Headers["X-Envoy-Attempt-Count"][0] != "3" {
		t.Fatalf("got %d attempt-count %q", res.code, res.hdr.Get("x-envoy-attempt-count"))
	}
	// A POST body is replayed on each attempt.
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+itoa(port)+"/", strings.NewReader("payload"))
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("x-envoy-attempt-count") != "3" {
		t.Fatalf("POST retry: %v %v", err, resp)
	}
	resp.Body.Close()
}

func TestRedirectDirectAndLocalReply(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{
			{Match: prefix("/secure"), Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{
				SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}}}},
			{Match: prefix("/old/"), Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{
				HostRedirect: "new.example.com", PortRedirect: 8443,
				PathRewriteSpecifier: &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "/new/"},
				ResponseCode:         routev3.RedirectAction_PERMANENT_REDIRECT}}},
			{Match: prefix("/direct"), Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
				Status: 418, Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "teapot"}}}}},
		}}}}
	res := basic(port, rc, nil)
	// Envoy Gateway style local reply: 404 -> 406 with a body.
	res[resourcev3.ListenerType][0] = listener("l", port, "rc", func(m *hcmv3.HttpConnectionManager) {
		m.LocalReplyConfig = &hcmv3.LocalReplyConfig{Mappers: []*hcmv3.ResponseMapper{{
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
				Comparison: &accesslogv3.ComparisonFilter{Op: accesslogv3.ComparisonFilter_EQ, Value: &corev3.RuntimeUInt32{DefaultValue: 404, RuntimeKey: "k"}}}}},
			StatusCode: wrapperspb.UInt32(406),
			Body:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "not acceptable"}},
		}}}
	})
	h.pushAndWait(t, res)

	for host, want := range map[string]string{
		"www.example.com":       "https://www.example.com/secure/x?a=b",
		"www.example.com:80":    "https://www.example.com/secure/x?a=b",
		"www.example.com:10080": "https://www.example.com:10080/secure/x?a=b",
	} {
		r := get(t, port, host, "/secure/x?a=b")
		if r.code != 301 || r.hdr.Get("Location") != want {
			t.Errorf("https redirect from %s: %d %q, want %q", host, r.code, r.hdr.Get("Location"), want)
		}
	}
	r := get(t, port, "www.example.com", "/old/page")
	if r.code != 308 || r.hdr.Get("Location") != "http://new.example.com:8443/new/page" {
		t.Errorf("redirect: %d %q", r.code, r.hdr.Get("Location"))
	}
	r = get(t, port, "x", "/direct")
	if r.code != 418 || r.body != "teapot" || r.hdr.Get("Content-Type") != "text/plain" {
		t.Errorf("direct: %d %q %v", r.code, r.body, r.hdr)
	}
	r = get(t, port, "x", "/none")
	if r.code != 406 || r.body != "not acceptable" {
		t.Errorf("local reply mapper: %d %q", r.code, r.body)
	}
}
