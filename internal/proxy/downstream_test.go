package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Plaintext HTTP/1 downstreams are served by h1srv, HTTP/2 with prior
// knowledge on the same port still reaches net/http's server; both pass an
// upstream response through without inventing a Content-Type (Envoy does
// not either; net/http would sniff "text/html").
func TestDownstreamProtocols(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // no sniffing here either
		io.WriteString(w, "<html>"+r.Proto)
	}))
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))

	r := get(t, port, "x", "/")
	if r.code != 200 || r.body != "<html>HTTP/1.1" || r.hdr["Content-Type"] != nil {
		t.Fatalf("HTTP/1.1: %d %q Content-Type %q", r.code, r.body, r.hdr["Content-Type"])
	}

	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: p}, Timeout: 10 * time.Second}
	resp, err := h2c.Get("http://127.0.0.1:" + itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.ProtoMajor != 2 || string(b) != "<html>HTTP/1.1" || resp.Header["Content-Type"] != nil {
		t.Fatalf("h2c: %s %q Content-Type %q", resp.Proto, b, resp.Header["Content-Type"])
	}
}

// A client that goes away while the upstream is still working aborts the
// upstream request (the router follows the request's context).
func TestDownstreamDisconnectCancelsUpstream(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	arrived := make(chan struct{}, 1)
	canceled := make(chan struct{}, 1)
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			return
		}
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			canceled <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	}))
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))

	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not reach the upstream")
	}
	c.Close()
	select {
	case <-canceled:
	case <-time.After(2 * time.Second):
		t.Fatal("the upstream request outlived the client")
	}
	if !waitFor(func() bool { return strings.Contains(h.log.String(), `"GET /slow HTTP/1.1" 0 DC`) }) {
		t.Errorf("access log:\n%s", h.log.String())
	}

	// Others are served as before.
	c2, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
}

func waitFor(cond func() bool) bool {
	for range 100 {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
