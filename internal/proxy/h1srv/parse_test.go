package h1srv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// memConn reads from r and discards writes: a connection without a
// network, for the parser and allocation tests.
type memConn struct {
	r       io.Reader
	written int
}

func (c *memConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { c.written += len(p); return len(p), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// parseOne parses one request from raw as the server does. status is
// what the server answers a refused request (0: nothing at all).
func parseOne(raw []byte) (r *http.Request, status int, err error) {
	return parseWith(&Server{}, raw)
}

func parseWith(srv *Server, raw []byte) (r *http.Request, status int, err error) {
	c := newConn(srv, &memConn{r: bytes.NewReader(raw)})
	head, view, err := c.readHead()
	if err == nil {
		s := string(head)
		if view {
			c.br.Discard(len(head))
		}
		var x *exchange
		if x, err = c.newExchange(s); err == nil {
			return &x.req, 0, nil
		}
	}
	var pe *protoError
	if errors.As(err, &pe) {
		return nil, pe.code, err
	}
	return nil, 0, err
}

// stdParse is net/http's server reading the same bytes: http.ReadRequest
// and then the checks its conn.readRequest adds, with their reasons.
func stdParse(raw []byte) (*http.Request, int, string) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	// ReadRequest drops the Host header the server checks; read it again.
	var hostHeader textproto.MIMEHeader
	if err == nil {
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
		tp.ReadLine()
		hostHeader, _ = tp.ReadMIMEHeader()
	}
	switch {
	case err == io.EOF:
		return nil, 0, ""
	case err != nil && (strings.Contains(err.Error(), "transfer encoding")):
		return nil, http.StatusNotImplemented, ""
	case err != nil:
		return nil, http.StatusBadRequest, ""
	}
	h2Upgrade := req.Method == "PRI" && len(req.Header) == 0 && req.URL.Path == "*" && req.Proto == "HTTP/2.0"
	if req.ProtoMajor != 1 && !(req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
		return nil, http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	}
	hosts, haveHost := hostHeader["Host"]
	if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && !h2Upgrade && req.Method != "CONNECT" {
		return nil, http.StatusBadRequest, "missing required Host header"
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return nil, http.StatusBadRequest, "malformed Host header"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, http.StatusBadRequest, "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, http.StatusBadRequest, "invalid header value"
			}
		}
	}
	return req, 0, ""
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		status int    // 0: accepted (or, with noReply, silently closed)
		text   string // the reason net/http appends to the status text
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, ""},
		{"GET / HTTP/1.0\r\n\r\n", 0, ""},
		{"GET http://a/b HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"CONNECT a:1 HTTP/1.1\r\n\r\n", 0, ""},
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, ""},
		{"PRI * HTTP/2.0\r\n\r\n", 0, ""},
		{"", 0, ""},
		{"GET / HTTP/1.1\r\n", 400, ""},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", 400, ""},
		{"\r\n", 400, ""},
		{"GET /\r\n\r\n", 400, ""},
		{"GET / HTTP/1.1 x\r\n\r\n", 400, ""},
		{"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"GET / HTTP/1\r\nHost: a\r\n\r\n", 400, ""},
		{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "unsupported protocol version"},
		{"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505, "unsupported protocol version"},
		{"GET / HTTP/0.9\r\n\r\n", 505, "unsupported protocol version"},
		{"GET /%x HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""},
		{"GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, ""},
		{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "malformed Host header"},
		{"GET / HTTP/1.1\r\nHost: a\r\nA B: c\r\n\r\n", 400, "invalid header name"},
		{"GET / HTTP/1.1\r\nHost: a\r\nA@: c\r\n\r\n", 400, ""},
		{"GET / HTTP/1.1\r\nHost: a\r\nA: \x00\r\n\r\n", 400, ""},
		{"GET / HTTP/1.1\r\nHost: a\r\n A: b\r\n\r\n", 400, "malformed Host header"}, // folded into Host
		{"GET / HTTP/1.1\r\n A: b\r\nHost: a\r\n\r\n", 400, ""},
		{"GET / HTTP/1.1\r\nHost: a\r\nA\r\n\r\n", 400, ""},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, ""},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, ""},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, ""},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, ""},
		{"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", 0, ""},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, ""}, // before the Host check
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 0, ""},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: z\r\n\r\n", 400, ""},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Trailer\r\n\r\n", 400, ""},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", maxHeadBytes) + "\r\n\r\n", 431, ""},
		{"GET /" + strings.Repeat("x", maxHeadBytes) + " HTTP/1.1\r\n\r\n", 431, ""},
	} {
		_, status, err := parseOne([]byte(tc.raw))
		var pe *protoError
		errors.As(err, &pe)
		text := ""
		if pe != nil {
			text = pe.text
		}
		if status != tc.status || text != tc.text {
			t.Errorf("%q: status %d %q (%v), want %d %q", trunc(tc.raw), status, text, err, tc.status, tc.text)
		}
		if len(tc.raw) < 1<<16 {
			if _, std, stdText := stdParse([]byte(tc.raw)); std != tc.status || stdText != tc.text {
				t.Errorf("%q: net/http answers %d %q, the table says %d %q", tc.raw, std, stdText, tc.status, tc.text)
			}
		}
	}
}

// TestParsedRequest checks the fields a handler sees.
func TestParsedRequest(t *testing.T) {
	raw := "POST /a/b?c=d HTTP/1.1\r\nhost: example.com\r\ncontent-type: text/plain\r\nX-Two: 1\r\nx-two: 2\r\n" +
		"Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n"
	r, _, err := parseOne([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := http.Header{"Content-Type": {"text/plain"}, "X-Two": {"1", "2"}, "Connection": {"close"}}
	if r.Method != "POST" || r.RequestURI != "/a/b?c=d" || r.URL.Path != "/a/b" || r.URL.RawQuery != "c=d" ||
		r.Host != "example.com" || r.ContentLength != -1 || !slices.Equal(r.TransferEncoding, []string{"chunked"}) ||
		!r.Close || r.Proto != "HTTP/1.1" || !reflect.DeepEqual(r.Header, want) {
		t.Fatalf("parsed %+v", r)
	}
	if !reflect.DeepEqual(r.Trailer, http.Header{"X-Sum": nil}) {
		t.Fatalf("declared trailer %v", r.Trailer)
	}
	b, err := io.ReadAll(r.Body)
	if string(b) != "abc" || err != nil || !reflect.DeepEqual(r.Trailer, http.Header{"X-Sum": {"9"}}) {
		t.Fatalf("body %q %v, trailer %v", b, err, r.Trailer)
	}
}

// Canonical keys are substrings of the head; lower-case common ones are
// interned: neither allocates a key string.
func TestCanonicalKey(t *testing.T) {
	for in, want := range map[string]string{
		"content-type": "Content-Type", "Content-Type": "Content-Type", "x-FOO-bar": "X-Foo-Bar",
		"a": "A", "-x": "-X", "x--y": "X--Y", "1abc": "1abc", "user-agent": "User-Agent",
	} {
		if got, kind := canonicalKey(in); got != want || kind != keyOK || got != http.CanonicalHeaderKey(in) {
			t.Errorf("canonicalKey(%q) = %q %d, want %q", in, got, kind, want)
		}
	}
	if _, kind := canonicalKey("a b"); kind != keySpaced {
		t.Errorf("a space: %d", kind)
	}
	if _, kind := canonicalKey("a\x01"); kind != keyBad {
		t.Errorf("a control byte: %d", kind)
	}
	if n := testing.AllocsPerRun(100, func() { canonicalKey("accept-encoding"); canonicalKey("X-Custom") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// simpleTarget's shortcut must give what url.ParseRequestURI gives, for
// every byte in the path and in the query.
func TestSimpleTarget(t *testing.T) {
	check := func(target string) {
		t.Helper()
		if !simpleTarget([]byte(target)) {
			return
		}
		want, err := url.ParseRequestURI(target)
		var got url.URL
		setSimpleURL(&got, target)
		if err != nil || *want != got {
			t.Errorf("%q: shortcut %#v, url.ParseRequestURI %#v %v", target, got, want, err)
		}
	}
	for c := 0; c < 256; c++ {
		check("/a" + string(rune(c)) + "b")
		check("/a" + string([]byte{byte(c)}) + "b")
		check("/a?x" + string([]byte{byte(c)}) + "y")
		check("/a?" + string([]byte{byte(c)}))
	}
	for _, s := range []string{"/", "/?", "/a?", "/a??", "/a?b?", "//x", "/a?#b", "/:@", "/a?%zz"} {
		check(s)
	}
}

// FuzzParseRequest: the parser never panics, refuses what net/http's
// server refuses (with the same status) and reads the same request from
// what it accepts.
func FuzzParseRequest(f *testing.F) {
	for _, tc := range diffCases {
		if len(tc.raw) < 4096 {
			f.Add([]byte(tc.raw))
		}
	}
	f.Add([]byte("GET /a?b HTTP/1.1\r\nHost: h\r\nX: y\r\n z\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: A\r\n\r\n1;x\r\na\r\n0\r\nA: 1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, status, err := parseOne(raw)
		want, wantStatus, wantText := stdParse(raw)
		var text string
		if pe, ok := err.(*protoError); ok {
			text = pe.text
		}
		if status != wantStatus || text != wantText {
			t.Fatalf("%q: status %d %q (%v), net/http %d %q", raw, status, text, err, wantStatus, wantText)
		}
		strictGot, strictStatus, _ := parseWith(&Server{Strict: true}, raw)
		if want == nil || got == nil {
			if wantStatus != 0 && strictStatus == 0 {
				t.Fatalf("%q: net/http refuses with %d, the strict server accepts", raw, wantStatus)
			}
			return
		}
		d := describe(got)
		if d != describe(want) {
			t.Fatalf("%q:\nh1srv    %s\nnet/http %s", raw, d, describe(want))
		}
		// What net/http accepts, a Strict server accepts alike unless one
		// of its own rules applies, and then refuses with that rule's status.
		if rule := strictRule(raw); rule != strictStatus {
			t.Fatalf("%q: strict server answers %d, its rules say %d", raw, strictStatus, rule)
		}
		if strictGot != nil {
			if sd := describe(strictGot); sd != d {
				t.Fatalf("%q:\nstrict %s\nh1srv  %s", raw, sd, d)
			}
		}
	})
}

// strictRule is the status a Strict server refuses a request net/http
// accepts with, 0 when none of its rules applies, judged from the raw
// head by textproto rather than by the parser under test.
func strictRule(raw []byte) int {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	line, err := tp.ReadLine()
	if err != nil {
		return 0
	}
	h, _ := tp.ReadMIMEHeader()
	minor := line[len(line)-1]
	if strings.HasSuffix(line[:len(line)-1], " HTTP/1.") && minor > '1' {
		return http.StatusHTTPVersionNotSupported
	}
	if _, te := h["Transfer-Encoding"]; te {
		if _, cl := h["Content-Length"]; cl || minor == '0' {
			return http.StatusBadRequest
		}
	}
	return 0
}

// describe renders what a handler sees of a request, body and trailer
// included.
func describe(r *http.Request) string {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		body = append(body, " error"...) // texts differ; that it failed must not
	}
	u := *r.URL
	u.User = nil
	return fmt.Sprintf("%s %q %s %d.%d url=%#v user=%v host=%q header=%v length=%d te=%v close=%v body=%q trailer=%v",
		r.Method, r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor, u, r.URL.User, r.Host, r.Header, r.ContentLength,
		r.TransferEncoding, r.Close, body, r.Trailer)
}
