package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/portico-gw/portico/internal/proxy"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// In-flight requests finish on the config they started with; new requests
// get the new config; a moved listener drains its old socket.
func TestUpdateDrainsInFlight(t *testing.T) {
	h := newHarness(t)
	p1, p2 := freePort(t), freePort(t)
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	slow := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		echoHandler("old").ServeHTTP(w, r)
	}))
	h.pushAndWait(t, basic(p1, simpleRoutes("slow"), map[string][]string{"slow": {slow}}))

	inflight := func(port uint32) chan result {
		ch := make(chan result, 1)
		go func() { ch <- get(t, port, "x", "/") }()
		<-started
		return ch
	}
	a := inflight(p1)

	direct := func(body string) *routev3.RouteConfiguration {
		return &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
			Routes: []*routev3.Route{
				{Match: prefix("/slow"), Action: routeTo("slow")},
				{Match: prefix("/"), Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200,
					Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}}}}}}}}}
	}
	h.pushAndWait(t, basic(p1, direct("v2"), map[string][]string{"slow": {slow}}))
	if r := get(t, p1, "x", "/"); r.body != "v2" {
		t.Fatalf("new request after update: %d %q", r.code, r.body)
	}

	// Move the listener to another port while a request is in flight.
	b := make(chan result, 1)
	go func() { b <- get(t, p1, "x", "/slow") }()
	<-started
	h.pushAndWait(t, basic(p2, direct("v3"), map[string][]string{"slow": {slow}}))
	if r := get(t, p2, "x", "/"); r.body != "v3" {
		t.Fatalf("moved listener: %d %q", r.code, r.body)
	}
	close(release)
	for _, ch := range []chan result{a, b} {
		select {
		case r := <-ch:
			if r.code != 200 || r.echo.Backend != "old" {
				t.Errorf("in-flight request: %d %q", r.code, r.body)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("in-flight request never finished")
		}
	}
	// The old socket is closed once drained.
	deadline := time.Now().Add(3 * time.Second)
	for {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", p1))
		if err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("old listener still accepts after the move")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Envoy Gateway's ready listener: health_check (pass_through_mode false) on
// /ready and a direct_response 500 catch-all.
func TestReadyListener(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	hc := &hcmv3.HttpFilter{Name: "envoy.filters.http.health_check", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&hcv3.HealthCheck{
		PassThroughMode: wrapperspb.Bool(false),
		Headers:         []*routev3.HeaderMatcher{{Name: ":path", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: strMatch("/ready")}}},
	})}}
	l := listener("envoy-gateway-proxy-ready-0.0.0.0-19001", port, "", func(m *hcmv3.HttpConnectionManager) {
		m.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{Name: "local_route",
			VirtualHosts: []*routev3.VirtualHost{{Name: "local_service", Domains: []string{"*"}, Routes: []*routev3.Route{{
				Match: prefix("/"), Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 500}}}}}}}}
	}, hc)
	h.pushAndWait(t, map[string][]types.Resource{resourcev3.ListenerType: {l}})
	if r := get(t, port, "x", "/ready"); r.code != 200 {
		t.Errorf("/ready = %d", r.code)
	}
	if r := get(t, port, "x", "/other"); r.code != 500 {
		t.Errorf("/other = %d, want 500", r.code)
	}
}

// The control plane goes away and comes back: the proxy keeps serving the
// last accepted config, reconnects, and applies what the new server has.
func TestControlPlaneRestart(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {backend(t, "a")}}))
	h.gs.Stop()
	time.Sleep(100 * time.Millisecond)
	if r := get(t, port, "x", "/"); r.echo.Backend != "a" {
		t.Fatalf("stopped serving without a control plane: %d", r.code)
	}
	h.startXDS(t, h.xds)
	h.pushAndWait(t, basic(port, simpleRoutes("b"), map[string][]string{"b": {backend(t, "b")}}))
	if r := get(t, port, "x", "/"); r.echo.Backend != "b" {
		t.Fatalf("after reconnect: %d %q", r.code, r.body)
	}
}

func directBody(body string) *routev3.Route_DirectResponse {
	return &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200,
		Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}}}}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// An EDS that never arrives: after the initial fetch timeout the proxy
// serves anyway, and that cluster answers 503 no healthy upstream.
func TestInitialFetchTimeout(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	res := basic(port, simpleRoutes("ghost"), nil)
	res[resourcev3.ClusterType] = []types.Resource{edsCluster("ghost", func(c *clusterv3.Cluster) { c.OutlierDetection = &clusterv3.OutlierDetection{} })}
	h.push(t, res)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.p.WaitFor(ctx, func(s proxy.Status) bool { return s.Ready }); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < time.Second {
		t.Errorf("served before the initial fetch timeout, with the cluster still warming")
	}
	if r := get(t, port, "x", "/"); r.code != 503 || r.body != "no healthy upstream" {
		t.Errorf("got %d %q", r.code, r.body)
	}
	// Accepted-but-not-enforced settings are reported, not dropped.
	if w := strings.Join(h.p.Status().Warnings, ";"); !strings.Contains(w, "cluster ghost: outlier_detection enforces consecutive 5xx") {
		t.Errorf("warnings: %s", w)
	}
}

// A gateway's routes share one route configuration: with thousands of
// routes it passes gRPC's default 4 MB message limit, which the proxy
// must not apply (Envoy has none).
func TestLargeRouteConfiguration(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := backend(t, "big")
	rc := &routev3.RouteConfiguration{Name: "big"}
	pad := strings.Repeat("x", 400)
	for i := range 12000 {
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{Name: fmt.Sprintf("h%d-%s", i, pad),
			Domains: []string{fmt.Sprintf("h%d.example.com", i)}, Routes: []*routev3.Route{{Match: prefix("/"), Action: routeTo("c")}}})
	}
	if n := proto.Size(rc); n <= 4<<20 {
		t.Fatalf("the route configuration is %d bytes, not over 4 MB", n)
	}
	h.pushAndWait(t, map[string][]types.Resource{resourcev3.ListenerType: {listener("l", port, "big", nil)},
		resourcev3.RouteType: {rc}, resourcev3.ClusterType: {edsCluster("c", nil)}, resourcev3.EndpointType: {cla("c", be)}})
	if r := get(t, port, "h11999.example.com", "/"); r.code != 200 || r.echo.Backend != "big" {
		t.Fatalf("last host: %d %q", r.code, r.echo.Backend)
	}
}
