package proxy_test

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// Through the router: upstream connections are kept alive across
// requests, also when the downstream closes its own after each request
// (Connection is hop-by-hop: Envoy does not pass a downstream close on),
// and nothing is added that Envoy would not send (a client User-Agent).
func TestUpstreamKeepAliveThroughRouter(t *testing.T) {
	var conns atomic.Int32
	var lastUA, lastConn atomic.Value
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lastUA.Store(r.Header.Get("User-Agent"))
			lastConn.Store(r.Header.Get("Connection"))
			_, _ = w.Write([]byte("ok"))
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	h := newHarness(t)
	port := freePort(t)
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {ln.Addr().String()}}))
	for i := 0; i < 3; i++ {
		if r := get(t, port, "x", "/", "Connection", "close", "User-Agent", ""); r.code != 200 || r.body != "ok" {
			t.Fatalf("request %d: %d %q", i, r.code, r.body)
		}
		if ua := lastUA.Load(); ua != "" {
			t.Errorf("upstream saw User-Agent %q; the downstream sent none", ua)
		}
		if c := lastConn.Load(); c != "" {
			t.Errorf("upstream saw Connection %q", c)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 3 requests, want 1 (keep-alive)", n)
	}
}
