package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// shadowCopy is what a mirror backend saw.
type shadowCopy struct {
	method, uri, host, body string
	hdr                     http.Header
}

// recorder is a mirror backend that keeps every request it receives.
type recorder struct {
	mu   sync.Mutex
	seen []shadowCopy
	gate chan struct{} // when set, requests wait for it before answering
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.seen = append(rc.seen, shadowCopy{r.Method, r.RequestURI, r.Host, string(b), r.Header.Clone()})
	gate := rc.gate
	rc.mu.Unlock()
	if gate != nil {
		<-gate
	}
	w.WriteHeader(http.StatusTeapot)
	_, _ = io.WriteString(w, "mirror answer, to be discarded")
}

func (rc *recorder) copies() []shadowCopy {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]shadowCopy(nil), rc.seen...)
}

// settle waits (bounded) until the count of copies stops changing: copies
// are fire-and-forget, so nothing tells the test when the last one lands.
func (rc *recorder) settle(want int) []shadowCopy {
	last := -1
	for i := 0; i < 100; i++ {
		n := len(rc.copies())
		if n >= want && n == last {
			break
		}
		last = n
		time.Sleep(30 * time.Millisecond)
	}
	return rc.copies()
}

func mirrorRoute(mirrors ...*routev3.RouteAction_RequestMirrorPolicy) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{
		Name: "vh", Domains: []string{"*"}, Routes: []*routev3.Route{{Match: prefix("/"), Action: &routev3.Route_Route{
			Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "a"},
				RequestMirrorPolicies: mirrors}},
			RequestHeadersToAdd: []*corev3.HeaderValueOption{hv("x-route", "1", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)}}}}}}
}

func percent(num uint32, den typev3.FractionalPercent_DenominatorType) *corev3.RuntimeFractionalPercent {
	return &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: num, Denominator: den}, RuntimeKey: "ignored"}
}

func send(t *testing.T, method string, port uint32, host, uri string, body io.Reader, length int64) result {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", port, uri), body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.ContentLength = length
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, hdr: resp.Header, body: string(b)}
}

// The mirror receives a copy of what the primary upstream receives, with
// "-shadow" on the host, and the client sees only the primary's answer.
func TestMirrorCopiesRequest(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	m, keep := &recorder{}, &recorder{}
	clusters := map[string][]string{"a": {backend(t, "a")}, "m": {serve(t, m)}, "keep": {serve(t, keep)}}
	h.pushAndWait(t, basic(port, mirrorRoute(
		&routev3.RouteAction_RequestMirrorPolicy{Cluster: "m"},
		&routev3.RouteAction_RequestMirrorPolicy{Cluster: "keep", DisableShadowHostSuffixAppend: true},
		&routev3.RouteAction_RequestMirrorPolicy{Cluster: "not-there"}), clusters))

	res := get(t, port, "example.com:8080", "/get?q=1", "x-client", "c")
	if res.code != 200 || res.echo.Backend != "a" {
		t.Fatalf("primary: %d %s", res.code, res.body)
	}
	cs := m.settle(1)
	if len(cs) != 1 {
		t.Fatalf("mirror got %d copies", len(cs))
	}
	c := cs[0]
	if c.method != "GET" || c.uri != "/get?q=1" || c.host != "example.com-shadow:8080" {
		t.Errorf("copy: %s %s host %q", c.method, c.uri, c.host)
	}
	if c.hdr.Get("X-Client") != "c" || c.hdr.Get("X-Route") != "1" ||
		c.hdr.Get("X-Request-Id") == "" || c.hdr.Get("X-Request-Id") != res.echo.Headers["X-Request-Id"][0] {
		t.Errorf("copy headers %v, primary saw %v", c.hdr, res.echo.Headers)
	}
	if kc := keep.settle(1); len(kc) != 1 || kc[0].host != "example.com:8080" {
		t.Errorf("disable_shadow_host_suffix_append copy: %+v", kc)
	}

	// Bodies: a small one (known length and chunked) is copied whole.
	payload := strings.Repeat("mirrored body ", 1000)
	res = send(t, "POST", port, "api.example", "/post", strings.NewReader(payload), int64(len(payload)))
	if res.code != 200 {
		t.Fatalf("POST: %d %s", res.code, res.body)
	}
	res = send(t, "PUT", port, "api.example", "/chunked", io.MultiReader(strings.NewReader(payload)), -1)
	if res.code != 200 {
		t.Fatalf("chunked PUT: %d %s", res.code, res.body)
	}
	cs = m.settle(3)
	if len(cs) != 3 {
		t.Fatalf("mirror got %d copies, want 3", len(cs))
	}
	for _, c := range cs[1:] {
		if c.body != payload || c.host != "api.example-shadow" {
			t.Errorf("%s %s: body %d bytes, host %q", c.method, c.uri, len(c.body), c.host)
		}
	}

	// A body over the 1 MiB buffer limit reaches the primary whole and
	// abandons the copy.
	big := bytes.Repeat([]byte("x"), 3<<20)
	sum := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	clusters["a"] = []string{sum}
	h.pushAndWait(t, basic(port, mirrorRoute(&routev3.RouteAction_RequestMirrorPolicy{Cluster: "m"}), clusters))
	res = send(t, "POST", port, "big.example", "/big", bytes.NewReader(big), int64(len(big)))
	if res.code != 200 || res.body != fmt.Sprint(len(big)) {
		t.Errorf("big POST: %d %q", res.code, res.body)
	}
	res = send(t, "POST", port, "big.example", "/big-chunked", io.MultiReader(bytes.NewReader(big)), -1)
	if res.code != 200 || res.body != fmt.Sprint(len(big)) {
		t.Errorf("big chunked POST: %d %q", res.code, res.body)
	}
	// A small request after them proves the mirror still works and lets
	// the count settle.
	get(t, port, "big.example", "/after")
	cs = m.settle(4)
	if len(cs) != 4 || cs[3].uri != "/after" {
		var uris []string
		for _, c := range cs {
			uris = append(uris, c.uri)
		}
		t.Errorf("copies after big bodies: %v", uris)
	}
}

// A mirror that is down, or that does not answer at all, changes nothing
// for the client.
func TestMirrorDownOrStuck(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	stuck := &recorder{gate: make(chan struct{})}
	defer close(stuck.gate)
	clusters := map[string][]string{"a": {backend(t, "a")}, "down": {"127.0.0.1:" + itoa(freePort(t))}, "stuck": {serve(t, stuck)}}
	h.pushAndWait(t, basic(port, mirrorRoute(
		&routev3.RouteAction_RequestMirrorPolicy{Cluster: "down"},
		&routev3.RouteAction_RequestMirrorPolicy{Cluster: "stuck"}), clusters))
	const n = 20
	for i := 0; i < n; i++ {
		// The stuck mirror holds every copy until the test ends, so a
		// primary that waited for its mirror would never answer.
		res := send(t, "POST", port, "example.com", "/p", strings.NewReader("body"), 4)
		if res.code != 200 || !strings.Contains(res.body, `"backend":"a"`) {
			t.Fatalf("request %d: %d %s", i, res.code, res.body)
		}
	}
	if got := len(stuck.settle(n)); got != n {
		t.Errorf("stuck mirror saw %d copies, want %d", got, n)
	}
}

// runtime_fraction's default value samples the mirrored share.
func TestMirrorPercentage(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	quarter, none, all := &recorder{}, &recorder{}, &recorder{}
	clusters := map[string][]string{"a": {backend(t, "a")}, "quarter": {serve(t, quarter)}, "none": {serve(t, none)}, "all": {serve(t, all)}}
	h.pushAndWait(t, basic(port, mirrorRoute(
		&routev3.RouteAction_RequestMirrorPolicy{Cluster: "quarter", RuntimeFraction: percent(250000, typev3.FractionalPercent_MILLION)},
		&routev3.RouteAction_RequestMirrorPolicy{Cluster: "none", RuntimeFraction: percent(0, typev3.FractionalPercent_HUNDRED)},
		&routev3.RouteAction_RequestMirrorPolicy{Cluster: "all", RuntimeFraction: percent(100, typev3.FractionalPercent_HUNDRED)}), clusters))
	const n = 800
	for i := 0; i < n; i++ {
		if res := get(t, port, "example.com", "/s"); res.code != 200 {
			t.Fatalf("request %d: %d", i, res.code)
		}
	}
	// Binomial(800, 0.25): mean 200, sd 12.2; 140..260 is about 5 sd, so a
	// correct sampler fails this about once in a few million runs.
	got := len(quarter.settle(140))
	all.settle(n)
	if got < 140 || got > 260 {
		t.Errorf("25%% mirror got %d of %d", got, n)
	}
	if c := len(all.copies()); c != n {
		t.Errorf("100%% mirror got %d of %d", c, n)
	}
	if c := len(none.copies()); c != 0 {
		t.Errorf("0%% mirror got %d", c)
	}
}

// Mirror fields the proxy does not implement NACK by name.
func TestMirrorNACKsUnsupported(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	clusters := map[string][]string{"a": {backend(t, "a")}}
	h.pushAndWait(t, basic(port, mirrorRoute(&routev3.RouteAction_RequestMirrorPolicy{Cluster: "a"}), clusters))
	h.push(t, basic(port, mirrorRoute(&routev3.RouteAction_RequestMirrorPolicy{Cluster: "a", HostRewriteLiteral: "x"}), clusters))
	waitNACK(t, h, "request_mirror_policies[0]: unsupported field(s) host_rewrite_literal")
}
