package proxy_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// rawReply is what the proxy answered on a raw connection.
type rawReply struct {
	resp   *http.Response // nil: no response at all
	body   string
	echo   echo   // the backend's description, when it answered
	closed bool   // the proxy closed the connection after the response
	rest   string // bytes after the first response
}

// rawDo writes raw to the proxy on port and reads the first response;
// with untilClose, also whatever follows until the proxy closes the
// connection (at most 10 s). It never half-closes: the proxy takes that
// for the client going away, as Envoy does.
func rawDo(t *testing.T, port uint32, raw string, untilClose bool) rawReply {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	if !untilClose {
		return readOne(t, c)
	}
	return readReply(t, c)
}

// readOne reads one response and leaves the connection as it is.
func readOne(t *testing.T, c net.Conn) rawReply {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	out := rawReply{resp: resp, body: string(b)}
	if resp.Header.Get("X-Backend") != "" {
		_ = json.Unmarshal(b, &out.echo)
	}
	return out
}

// readReply reads the first response, if any, and what follows until the
// proxy closes.
func readReply(t *testing.T, c net.Conn) rawReply {
	t.Helper()
	br := bufio.NewReader(c)
	var out rawReply
	if _, err := br.Peek(1); err != nil {
		out.closed = true
		return out
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("unparsable response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	out.resp, out.body = resp, string(b)
	if resp.Header.Get("X-Backend") != "" {
		_ = json.Unmarshal(b, &out.echo)
	}
	rest, err := io.ReadAll(br)
	out.rest = string(rest)
	out.closed = err == nil || strings.Contains(err.Error(), "reset")
	return out
}

func (r rawReply) code() int {
	if r.resp == nil {
		return 0
	}
	return r.resp.StatusCode
}

// withHCM is basic() with the listener's HCM changed by mod.
func withHCM(port uint32, rc *routev3.RouteConfiguration, clusters map[string][]string, mod func(*hcmv3.HttpConnectionManager)) map[string][]types.Resource {
	res := basic(port, rc, clusters)
	res[resourcev3.ListenerType] = []types.Resource{listener("default/eg/http", port, rc.GetName(), mod)}
	return res
}

// egPaths is the path handling Envoy Gateway's HCMs carry.
func egPaths(m *hcmv3.HttpConnectionManager) {
	m.NormalizePath = wrapperspb.Bool(true)
	m.MergeSlashes = true
	m.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT
	m.UseRemoteAddress = wrapperspb.Bool(true)
}

// Issue 12 item 2: the path is normalised as Envoy does before routing,
// and the upstream gets the normalised path.
func TestPathNormalisedBeforeRouting(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: prefix("/public"), Action: routeTo("public")}, {Match: prefix("/"), Action: routeTo("private")}}}}}
	clusters := map[string][]string{"public": {backend(t, "public")}, "private": {backend(t, "private")}}
	h.pushAndWait(t, withHCM(port, rc, clusters, egPaths))
	get := func(target string, hdr ...string) rawReply {
		return rawDo(t, port, "GET "+target+" HTTP/1.1\r\nHost: x\r\n"+strings.Join(hdr, "")+"\r\n", false)
	}
	for _, c := range []struct{ target, backend, uri string }{
		{"/public/%2e%2e/admin", "private", "/admin"},
		{"/public/%2E%2E/admin?q=%2e%2e", "private", "/admin?q=%2e%2e"},
		{"/public/./a/../b", "public", "/public/b"},
		{"/public//b", "public", "/public/b"},
		{"/public/%41%7e", "public", "/public/A~"},
		{"/public/a#frag", "public", "/public/a"},
		{"/public/../../..", "private", "/"},
	} {
		r := get(c.target)
		if r.code() != 200 || r.echo.Backend != c.backend || r.echo.URI != c.uri {
			t.Errorf("%s: %d from %q with %q, want %q with %q", c.target, r.code(), r.echo.Backend, r.echo.URI, c.backend, c.uri)
		}
	}
	// An escaped slash redirects to the normalised path (307), but not gRPC.
	if r := get("/public%2F..%2Fadmin?x=1"); r.code() != 307 || r.resp.Header.Get("Location") != "/admin?x=1" {
		t.Errorf("escaped slashes: %d Location %q", r.code(), r.resp.Header.Get("Location"))
	}
	if r := get("/public%2Fa", "Content-Type: application/grpc\r\n"); r.code() != 200 || r.resp.Header.Get("Grpc-Status") == "" {
		t.Errorf("gRPC with escaped slashes: %d %v", r.code(), r.resp.Header)
	}
	if r := get("/public/%00"); r.code() != 400 {
		t.Errorf("escaped NUL: %d", r.code())
	}

	// The other escaped slash actions.
	h.pushAndWait(t, withHCM(port, rc, clusters, func(m *hcmv3.HttpConnectionManager) {
		egPaths(m)
		m.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_REJECT_REQUEST
	}))
	if r := get("/public%2Fa"); r.code() != 400 {
		t.Errorf("REJECT_REQUEST: %d", r.code())
	}
	h.pushAndWait(t, withHCM(port, rc, clusters, func(m *hcmv3.HttpConnectionManager) {
		egPaths(m)
		m.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD
	}))
	if r := get("/public%2F..%2Fadmin"); r.echo.Backend != "private" || r.echo.URI != "/admin" {
		t.Errorf("UNESCAPE_AND_FORWARD: %d %q %q", r.code(), r.echo.Backend, r.echo.URI)
	}
	h.pushAndWait(t, withHCM(port, rc, clusters, func(m *hcmv3.HttpConnectionManager) {
		egPaths(m)
		m.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_KEEP_UNCHANGED
	}))
	if r := get("/public%2F..%2Fadmin"); r.echo.Backend != "public" || r.echo.URI != "/public%2F..%2Fadmin" {
		t.Errorf("KEEP_UNCHANGED: %d %q %q", r.code(), r.echo.Backend, r.echo.URI)
	}
	// Without normalize_path nothing is decoded.
	h.pushAndWait(t, withHCM(port, rc, clusters, nil))
	if r := get("/public/%2e%2e/admin"); r.echo.Backend != "public" || r.echo.URI != "/public/%2e%2e/admin" {
		t.Errorf("normalize_path off: %q %q", r.echo.Backend, r.echo.URI)
	}
}

// Issue 12 item 7 and the Low list: what Envoy's codec refuses is answered
// and the connection closed before anything reaches the upstream.
func TestRequestSmugglingRefused(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	var seen atomic.Int32
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))
	next := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, c := range []struct {
		name, raw string
		code      int
		upstream  bool // the head may have gone upstream first
	}{
		{"length and chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, 400, false},
		{"chunked on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, 400, false},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n" + next, 505, false},
		{"CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n" + next, 403, false},
		{"websocket on a plain route", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + next, 403, false},
		// Last: its head goes upstream before the bad chunk is read.
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + next, 400, true},
	} {
		before := seen.Load()
		r := rawDo(t, port, c.raw, true)
		if r.code() != c.code || !r.closed || r.rest != "" {
			t.Errorf("%s: %d, closed %v, then %q; want %d and the connection closed", c.name, r.code(), r.closed, r.rest, c.code)
		}
		if !c.upstream && seen.Load() != before {
			t.Errorf("%s reached the upstream", c.name)
		}
	}
	if seen.Load() > 1 {
		t.Errorf("the upstream saw %d requests, at most the bad-chunk one may arrive", seen.Load())
	}
}

// Issue 12 item 8: a client that half-closes before its body is complete
// gets no response (no fabricated 200), and the upstream request is reset.
func TestHalfCloseBeforeBodyResetsUpstream(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	bodyErr := make(chan error, 1)
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		bodyErr <- err
	}))
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
	c.(*net.TCPConn).CloseWrite()
	if r := readReply(t, c); r.resp != nil {
		t.Errorf("a response to a request cut short: %d %q", r.code(), r.body)
	}
	select {
	case err := <-bodyErr:
		if err == nil {
			t.Error("the upstream read a complete body")
		}
	case <-time.After(10 * time.Second):
		t.Error("the upstream request was not reset")
	}
}

// Issue 12 item 9: x-envoy-* request headers and x-request-id follow
// Envoy's rules for use_remote_address and internal addresses.
func TestUntrustedEnvoyHeaders(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	clusters := map[string][]string{"a": {backend(t, "a")}}
	send := func() echo {
		raw := "GET / HTTP/1.1\r\nHost: x\r\nX-Envoy-Retry-On: 5xx\r\nX-Envoy-Max-Retries: 9\r\nX-Envoy-Internal: true\r\n" +
			"X-Envoy-Upstream-Rq-Timeout-Ms: 1\r\nX-Envoy-Downstream-Service-Cluster: evil\r\nX-Envoy-Custom: kept\r\nX-Request-Id: attacker\r\n\r\n"
		r := rawDo(t, port, raw, false)
		if r.code() != 200 {
			t.Fatalf("%d %q", r.code(), r.body)
		}
		return r.echo
	}
	has := func(e echo, k string) string { return strings.Join(e.Headers[k], ",") }

	// Envoy Gateway's HCM: use_remote_address, no internal addresses.
	h.pushAndWait(t, withHCM(port, simpleRoutes("a"), clusters, egPaths))
	e := send()
	for _, k := range []string{"X-Envoy-Retry-On", "X-Envoy-Max-Retries", "X-Envoy-Internal", "X-Envoy-Upstream-Rq-Timeout-Ms", "X-Envoy-Downstream-Service-Cluster"} {
		if v := has(e, k); v != "" {
			t.Errorf("edge request: %s: %q reached the upstream", k, v)
		}
	}
	if has(e, "X-Envoy-Custom") != "kept" || has(e, "X-Envoy-External-Address") != "127.0.0.1" {
		t.Errorf("edge request: custom %q, external address %q", has(e, "X-Envoy-Custom"), has(e, "X-Envoy-External-Address"))
	}
	if rid := has(e, "X-Request-Id"); rid == "attacker" || len(rid) != 36 {
		t.Errorf("edge request: x-request-id %q kept", rid)
	}

	// preserve_external_request_id keeps the client's id.
	h.pushAndWait(t, withHCM(port, simpleRoutes("a"), clusters, func(m *hcmv3.HttpConnectionManager) {
		egPaths(m)
		m.PreserveExternalRequestId = true
	}))
	if rid := has(send(), "X-Request-Id"); rid != "attacker" {
		t.Errorf("preserve_external_request_id: %q", rid)
	}

	// Not using the remote address: not an edge request, but not internal.
	h.pushAndWait(t, withHCM(port, simpleRoutes("a"), clusters, nil))
	e = send()
	if has(e, "X-Envoy-Retry-On") != "" || has(e, "X-Envoy-Internal") != "" || has(e, "X-Envoy-External-Address") != "" ||
		has(e, "X-Request-Id") != "attacker" || has(e, "X-Envoy-Downstream-Service-Cluster") != "evil" {
		t.Errorf("without use_remote_address: %v", e.Headers)
	}

	// An internal client keeps them and is marked internal.
	h.pushAndWait(t, withHCM(port, simpleRoutes("a"), clusters, func(m *hcmv3.HttpConnectionManager) {
		egPaths(m)
		m.InternalAddressConfig = &hcmv3.HttpConnectionManager_InternalAddressConfig{
			CidrRanges: []*corev3.CidrRange{{AddressPrefix: "127.0.0.0", PrefixLen: wrapperspb.UInt32(8)}}}
	}))
	e = send()
	if has(e, "X-Envoy-Retry-On") != "5xx" || has(e, "X-Envoy-Internal") != "true" || has(e, "X-Request-Id") != "attacker" ||
		has(e, "X-Envoy-External-Address") != "" {
		t.Errorf("internal request: %v", e.Headers)
	}
}

// The Low list: Expect is answered by the proxy and not forwarded.
func TestExpectNotForwarded(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {backend(t, "a")}}))
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("no 100 Continue before the body: %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e echo
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 200 || e.Headers["Expect"] != nil {
		t.Errorf("%d, upstream saw Expect %q", resp.StatusCode, e.Headers["Expect"])
	}
}

// The Low list: an upstream response head over 80 KiB is a protocol error,
// 502 (it was 503, after reading up to 10 MiB).
func TestOversizedUpstreamHead(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("b", 100<<10)+"\r\nContent-Length: 0\r\n\r\n")
				}
			}()
		}
	}()
	be := ln.Addr().String()
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))
	if r := get(t, port, "x", "/"); r.code != 502 || !strings.Contains(r.body, "protocol error") {
		t.Errorf("%d %q", r.code, r.body)
	}
}
