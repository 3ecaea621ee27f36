package h1client

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// checkSimpleHead compares the fast path with http.ReadResponse on the same
// bytes: when the fast path takes a head, net/http must read it the same
// way (status, protocol, headers, framing, body).
func checkSimpleHead(t *testing.T, raw []byte, method string) (taken bool) {
	req, _ := http.NewRequest(method, "http://x/", nil)
	head, _ := bufferedHead(bufio.NewReaderSize(bytes.NewReader(raw), 4096))
	if head == nil {
		return false
	}
	fast, ok := parseSimpleHead(head, req)
	if !ok {
		return false
	}
	want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
	if err != nil {
		t.Fatalf("fast path took %q, net/http rejects it: %v", raw, err)
	}
	if fast.Status != want.Status || fast.StatusCode != want.StatusCode || fast.Proto != want.Proto ||
		fast.ProtoMajor != want.ProtoMajor || fast.ProtoMinor != want.ProtoMinor ||
		fast.ContentLength != want.ContentLength || fast.Close != want.Close ||
		!reflect.DeepEqual(fast.Header, want.Header) || want.TransferEncoding != nil || want.Trailer != nil {
		t.Fatalf("%q:\nfast %q %d %s cl=%d close=%v %v\nwant %q %d %s cl=%d close=%v %v te=%v", raw,
			fast.Status, fast.StatusCode, fast.Proto, fast.ContentLength, fast.Close, fast.Header,
			want.Status, want.StatusCode, want.Proto, want.ContentLength, want.Close, want.Header, want.TransferEncoding)
	}
	// The bodies, read through the connection reader as exchange does.
	br := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	_, _ = bufferedHead(br)
	_, _ = br.Discard(len(head))
	var fastBody io.Reader = http.NoBody
	if fast.ContentLength > 0 {
		fastBody = &lengthBody{br: br, n: fast.ContentLength}
	}
	fb, ferr := io.ReadAll(fastBody)
	wb, werr := io.ReadAll(want.Body)
	if !bytes.Equal(fb, wb) || (ferr == nil) != (werr == nil) {
		t.Fatalf("%q: body %q (%v), net/http %q (%v)", raw, fb, ferr, wb, werr)
	}
	return true
}

func TestParseSimpleHead(t *testing.T) {
	tests := []struct {
		raw    string
		method string
		taken  bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", "GET", true},
		{"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nx-multi: a\r\nX-Multi: b\r\nconnection: keep-alive\r\n\r\nabc", "GET", true},
		{"HTTP/1.1 503 Service Unavailable\r\nContent-Length:  2 \r\nX-Empty:\r\n\r\nok", "POST", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "GET", true}, // the upstream closes early
		// Everything else is net/http's.
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "HEAD", false},
		{"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\n\r\nuntil close", "GET", false},
		{"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "GET", false},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nPragma: no-cache\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Folded: a\r\n b\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nBad Key: a\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Ctl: a\x01b\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", "GET", false},
		{"HTTP/1.1  200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", false},
		{"HTTP/1.1 2x0 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", false},
	}
	for _, tc := range tests {
		if got := checkSimpleHead(t, []byte(tc.raw), tc.method); got != tc.taken {
			t.Errorf("%q: fast path taken %v, want %v", tc.raw, got, tc.taken)
		}
	}
}

// A head that does not fit in the read buffer, or never ends, is left to
// net/http; a connection that closes mid-head reports what net/http would.
func TestBufferedHead(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 0\r\n\r\n"
	if h, err := bufferedHead(bufio.NewReaderSize(strings.NewReader(big), 4096)); h != nil || err != nil {
		t.Errorf("oversized head: %q %v, want nil, nil", h, err)
	}
	if _, err := bufferedHead(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-"))); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated head: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := bufferedHead(bufio.NewReader(strings.NewReader(""))); err != io.EOF {
		t.Errorf("closed before any byte: %v, want io.EOF", err)
	}
	if h, _ := bufferedHead(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\nA: b\n\nbody"))); string(h) != "HTTP/1.1 200 OK\nA: b\n\n" {
		t.Errorf("bare LF head: %q", h)
	}
}

func FuzzParseSimpleHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"), false)
	f.Add([]byte("HTTP/1.1 404 x\r\ncontent-length: 3\r\nx-a: 1\r\nX-A: 2\r\n\r\nab"), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, Upgrade\r\n\r\nhello"), false)
	f.Fuzz(func(t *testing.T, raw []byte, post bool) {
		method := "GET"
		if post {
			method = "POST"
		}
		checkSimpleHead(t, raw, method)
	})
}
