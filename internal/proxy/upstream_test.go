package proxy_test

import (
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	lrv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func h2Options() map[string]*anypb.Any {
	return map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}}}}})}
}

// Envoy's local replies for upstream failures: codes, bodies and flags.
func TestUpstreamFailures(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	slow := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	dead := "127.0.0.1:" + itoa(freePort(t))
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{
			{Match: prefix("/empty"), Action: routeTo("empty")},
			{Match: prefix("/dead"), Action: routeTo("dead")},
			{Match: prefix("/missing"), Action: routeTo("no-such-cluster")},
			{Match: prefix("/slow"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "slow"}, Timeout: durationpb.New(100 * time.Millisecond)}}},
		}}}}
	res := basic(port, rc, map[string][]string{"dead": {dead}, "slow": {slow}})
	res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType], edsCluster("empty", nil))
	res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType], cla("empty"))
	h.pushAndWait(t, res)

	cases := []struct {
		uri, body, flag string
		code            int
	}{
		{"/empty", "no healthy upstream", "UH", 503},
		{"/dead", "upstream connect error or disconnect/reset before headers. reset reason: connection failure", "UF", 503},
		{"/slow", "upstream request timeout", "UT", 504},
		{"/missing", "", "NC", 503},
	}
	for _, c := range cases {
		r := get(t, port, "x", c.uri)
		if r.code != c.code || r.body != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.uri, r.code, r.body, c.code, c.body)
		}
	}
	for _, c := range cases {
		if want := `"GET ` + c.uri + ` HTTP/1.1" ` + itoa(uint32(c.code)) + " " + c.flag + " "; !strings.Contains(h.log.String(), want) {
			t.Errorf("access log lacks %q:\n%s", want, h.log.String())
		}
	}
}

// h2c upstream (what gRPC backends need), a unix-socket endpoint and
// least_request given as a loadBalancingPolicy extension.
func TestH2CUnixAndLeastRequest(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	sock := filepath.Join(t.TempDir(), "be.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	us := &http.Server{Handler: echoHandler("unix")}
	go us.Serve(ln)
	t.Cleanup(func() { us.Close() })

	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{
			{Match: prefix("/h2"), Action: routeTo("h2")},
			{Match: prefix("/unix"), Action: routeTo("unix")},
			{Match: prefix("/lr"), Action: routeTo("lr")},
		}}}}
	res := map[string][]types.Resource{
		resourcev3.ListenerType: {listener("l", port, "rc", nil)},
		resourcev3.RouteType:    {rc},
		resourcev3.ClusterType: {
			edsCluster("h2", func(c *clusterv3.Cluster) { c.TypedExtensionProtocolOptions = h2Options() }),
			edsCluster("unix", nil),
			edsCluster("lr", func(c *clusterv3.Cluster) {
				c.LoadBalancingPolicy = &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
					TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: "envoy.load_balancing_policies.least_request",
						TypedConfig: mustAny(&lrv3.LeastRequest{ChoiceCount: wrapperspb.UInt32(2)})}}}}
			}),
		},
		resourcev3.EndpointType: {cla("h2", backend(t, "h2")), cla("unix", "unix:"+sock), cla("lr", backend(t, "lr1"), backend(t, "lr2"))},
	}
	h.pushAndWait(t, res)
	if r := get(t, port, "x", "/h2"); r.echo.Proto != "HTTP/2.0" {
		t.Errorf("h2c upstream used %q", r.echo.Proto)
	}
	if r := get(t, port, "x", "/unix"); r.echo.Backend != "unix" {
		t.Errorf("unix endpoint: %d %q", r.code, r.body)
	}
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		seen[get(t, port, "x", "/lr").echo.Backend] = true
	}
	if !seen["lr1"] || !seen["lr2"] {
		t.Errorf("least_request used only %v", seen)
	}
}

// Upstream TLS from transport_socket, verified against trusted_ca and SANs,
// with ALPN picking h2.
func TestUpstreamTLS(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ts := httptest.NewUnstartedServer(echoHandler("tls"))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}))
	tlsCluster := func(name, san string) *clusterv3.Cluster {
		return edsCluster(name, func(c *clusterv3.Cluster) {
			c.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
				TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{Sni: "example.com", CommonTlsContext: &tlsv3.CommonTlsContext{
					ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
						TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: ca}},
						MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_DNS,
							Matcher: strMatch(san)}}}}}})}}
			c.TypedExtensionProtocolOptions = h2Options()
		})
	}
	addr := ts.Listener.Addr().String()
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: prefix("/bad"), Action: routeTo("bad")}, {Match: prefix("/"), Action: routeTo("good")}}}}}
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {listener("l", port, "rc", nil)},
		resourcev3.RouteType:    {rc},
		resourcev3.ClusterType:  {tlsCluster("good", "example.com"), tlsCluster("bad", "other.test")},
		resourcev3.EndpointType: {cla("good", addr), cla("bad", addr)},
	})
	r := get(t, port, "x", "/")
	if r.echo.Backend != "tls" || r.echo.Proto != "HTTP/2.0" {
		t.Fatalf("tls upstream: %d %q proto %q", r.code, r.body, r.echo.Proto)
	}
	if r := get(t, port, "x", "/bad"); r.code != 503 {
		t.Errorf("SAN mismatch must fail, got %d", r.code)
	}
}

func edsClusterH2(name string) *clusterv3.Cluster {
	return edsCluster(name, func(c *clusterv3.Cluster) { c.TypedExtensionProtocolOptions = h2Options() })
}

// Route idle_timeout: 408 before response headers; per-try timeout retried.
func TestIdleAndPerTryTimeout(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	var n atomic.Int32
	slowFirst := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		echoHandler("s").ServeHTTP(w, r)
	}))
	hang := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		IncludeAttemptCountInResponse: true,
		Routes: []*routev3.Route{
			{Match: prefix("/idle"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "hang"}, IdleTimeout: durationpb.New(100 * time.Millisecond)}}},
			{Match: prefix("/"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "s"},
				RetryPolicy: &routev3.RetryPolicy{RetryOn: "5xx", NumRetries: wrapperspb.UInt32(1), PerTryTimeout: durationpb.New(100 * time.Millisecond),
					RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Millisecond)}}}}},
		}}}}
	h.pushAndWait(t, basic(port, rc, map[string][]string{"s": {slowFirst}, "hang": {hang}}))
	if r := get(t, port, "x", "/idle"); r.code != 408 || r.body != "stream timeout" {
		t.Errorf("idle: %d %q", r.code, r.body)
	}
	if r := get(t, port, "x", "/"); r.code != 200 || r.hdr.Get("x-envoy-attempt-count") != "2" {
		t.Errorf("per-try timeout retry: %d attempts %q", r.code, r.hdr.Get("x-envoy-attempt-count"))
	}
}

// HCM stream_idle_timeout and request_timeout answer 408 like Envoy.
func TestHCMStreamTimeouts(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	hang := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	res := basic(port, simpleRoutes("hang"), map[string][]string{"hang": {hang}})
	res[resourcev3.ListenerType][0] = listener("l", port, "rc", func(m *hcmv3.HttpConnectionManager) {
		m.StreamIdleTimeout = durationpb.New(150 * time.Millisecond)
		m.RequestTimeout = durationpb.New(400 * time.Millisecond)
	})
	h.pushAndWait(t, res)
	if r := get(t, port, "x", "/"); r.code != 408 || r.body != "stream timeout" {
		t.Errorf("stream idle: %d %q", r.code, r.body)
	}
	// A body that keeps trickling defeats the idle timer but not
	// request_timeout.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 12; i++ {
			if _, err := pw.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+itoa(port)+"/", pr)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 408 || string(b) != "request timeout" {
		t.Errorf("request timeout: %d %q", resp.StatusCode, b)
	}
}

// circuit_breakers max_requests: the request over the limit gets Envoy's
// overflow reply.
func TestCircuitBreakerOverflow(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	slow := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
	}))
	res := basic(port, simpleRoutes("s"), map[string][]string{"s": {slow}})
	res[resourcev3.ClusterType][0] = edsCluster("s", func(c *clusterv3.Cluster) {
		c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRequests: wrapperspb.UInt32(1)}}}
	})
	h.pushAndWait(t, res)
	done := make(chan result, 1)
	go func() { done <- get(t, port, "x", "/") }()
	<-started
	if r := get(t, port, "x", "/"); r.code != 503 || r.body != "upstream connect error or disconnect/reset before headers. reset reason: overflow" {
		t.Errorf("overflow: %d %q", r.code, r.body)
	}
	close(release)
	if r := <-done; r.code != 200 {
		t.Errorf("first request: %d", r.code)
	}
}

// STATIC and STRICT_DNS clusters carry their endpoints inline.
func TestStaticAndDNSClusters(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	inlineCluster := func(name string, typ clusterv3.Cluster_DiscoveryType, addr string) *clusterv3.Cluster {
		return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: typ},
			ConnectTimeout: durationpb.New(time.Second), LoadAssignment: cla(name, addr)}
	}
	_, p, _ := net.SplitHostPort(backend(t, "dns"))
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: prefix("/static"), Action: routeTo("static")}, {Match: prefix("/dns"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier:     &routev3.RouteAction_Cluster{Cluster: "dns"},
			HostRewriteSpecifier: &routev3.RouteAction_AutoHostRewrite{AutoHostRewrite: wrapperspb.Bool(true)}}}}}}}}
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {listener("l", port, "rc", nil)},
		resourcev3.RouteType:    {rc},
		resourcev3.ClusterType: {inlineCluster("static", clusterv3.Cluster_STATIC, backend(t, "static")),
			inlineCluster("dns", clusterv3.Cluster_STRICT_DNS, "localhost:"+p)},
	})
	for _, c := range []string{"static", "dns"} {
		if r := get(t, port, "x", "/"+c); r.echo.Backend != c {
			t.Errorf("%s cluster: %d %q", c, r.code, r.body)
		}
	}
	// auto_host_rewrite uses the DNS name of the chosen host.
	if r := get(t, port, "x", "/dns"); r.echo.Host != "localhost" {
		t.Errorf("auto_host_rewrite: host %q", r.echo.Host)
	}
}

// outlier_detection ejects a host after consecutive 5xx; traffic moves to
// the healthy one.
func TestOutlierEjection(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	bad := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	res := basic(port, simpleRoutes("c"), map[string][]string{"c": {backend(t, "good"), bad}})
	res[resourcev3.ClusterType][0] = edsCluster("c", func(c *clusterv3.Cluster) {
		c.OutlierDetection = &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(3), MaxEjectionPercent: wrapperspb.UInt32(50)}
	})
	h.pushAndWait(t, res)
	fails := 0
	for i := 0; i < 30; i++ {
		if r := get(t, port, "x", "/"); r.code != 200 {
			fails++
			if i >= 10 {
				t.Fatalf("request %d still reached the ejected host", i)
			}
		}
	}
	if fails != 3 {
		t.Errorf("%d failures before ejection, want 3", fails)
	}
}
