package proxy_test

import (
	"encoding/base64"
	"net/http"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	statefulsessionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/stateful_session/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	cookiev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/cookie/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/type/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A session pinned to a host that is in the cluster but refuses
// connections: as in Envoy, the override host gets the first attempt (a
// route without retries answers 503); a retry goes where balancing says,
// and the answer moves the session there.
func TestStatefulSessionOverrideAndRetry(t *testing.T) {
	h := newHarness(t)
	live := backend(t, "live")
	dead := "127.0.0.1:" + itoa(freePort(t))
	port := freePort(t)
	session := &statefulsessionv3.StatefulSession{SessionState: &corev3.TypedExtensionConfig{
		Name:        "envoy.http.stateful_session.cookie",
		TypedConfig: mustAny(&cookiev3.CookieBasedSessionState{Cookie: &httpv3.Cookie{Name: "s", Path: "/"}}),
	}}
	perRoute := map[string]*anypb.Any{"envoy.filters.http.stateful_session": mustAny(&statefulsessionv3.StatefulSessionPerRoute{
		Override: &statefulsessionv3.StatefulSessionPerRoute_StatefulSession{StatefulSession: session}})}
	retry := routeTo("c")
	retry.Route.RetryPolicy = &routev3.RetryPolicy{RetryOn: "connect-failure", NumRetries: wrapperspb.UInt32(2)}
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{
			{Match: prefix("/retry"), Action: retry, TypedPerFilterConfig: perRoute},
			{Match: prefix("/"), Action: routeTo("c"), TypedPerFilterConfig: perRoute},
		}}}}
	filter := &hcmv3.HttpFilter{Name: "envoy.filters.http.stateful_session", Disabled: true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(session)}}
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {listener("l", port, "rc", nil, filter)},
		resourcev3.RouteType:    {rc},
		resourcev3.ClusterType:  {edsCluster("c", nil)},
		resourcev3.EndpointType: {cla("c", live, dead)},
	})
	pin := func(addr string) string { return "s=" + base64.StdEncoding.EncodeToString([]byte(addr)) }

	r := get(t, port, "example.com", "/", "Cookie", pin(live))
	if r.code != http.StatusOK || r.echo.Backend != "live" || r.hdr.Get("Set-Cookie") != "" {
		t.Fatalf("pinned to live: %d %q Set-Cookie %q", r.code, r.echo.Backend, r.hdr.Get("Set-Cookie"))
	}
	r = get(t, port, "example.com", "/", "Cookie", pin(dead))
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("pinned to a host that refuses, no retries: %d %q, want 503", r.code, r.body)
	}
	r = get(t, port, "example.com", "/retry", "Cookie", pin(dead))
	want := `s="` + base64.StdEncoding.EncodeToString([]byte(live)) + `"; Path=/; HttpOnly`
	if r.code != http.StatusOK || r.echo.Backend != "live" || r.hdr.Get("Set-Cookie") != want {
		t.Fatalf("pinned to a host that refuses, with retries: %d %q Set-Cookie %q, want %q", r.code, r.echo.Backend, r.hdr.Get("Set-Cookie"), want)
	}
}
