package h1srv

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// diffHandlers are served alike by net/http and by this server. Those
// that set no Content-Type are compared without it (net/http sniffs one).
var diffHandlers = map[string]http.HandlerFunc{
	// echo describes the request as the handler sees it.
	"echo": func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		u := r.URL
		fmt.Fprintf(w, "%s %q %s %d.%d host=%q\n", r.Method, r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Host)
		fmt.Fprintf(w, "url scheme=%q opaque=%q user=%v host=%q path=%q raw=%q query=%q force=%v\n",
			u.Scheme, u.Opaque, u.User, u.Host, u.Path, u.RawPath, u.RawQuery, u.ForceQuery)
		fmt.Fprintf(w, "length=%d te=%v close=%v remote=%v nobody=%v\n", r.ContentLength, r.TransferEncoding, r.Close,
			r.RemoteAddr != "", r.Body == http.NoBody)
		for _, k := range slices.Sorted(mapKeys(r.Header)) {
			fmt.Fprintf(w, "%s=%q\n", k, r.Header[k])
		}
		fmt.Fprintf(w, "body=%q err=%v trailer=%v\n", body, err, r.Trailer)
	},
	"hello": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") },
	"empty": func(w http.ResponseWriter, r *http.Request) {},
	"length": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	},
	"big": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", "yes")
		io.WriteString(w, strings.Repeat("0123456789", 500))
	},
	"exactly2048": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 2048)) },
	"just2049":    func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 2049)) },
	"204": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "7")
		w.WriteHeader(http.StatusNoContent)
		io.WriteString(w, "ignored")
	},
	"304": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
	},
	"trailers": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum, Content-Length")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	},
	"prefixtrailer": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set(http.TrailerPrefix+"X-Early", "early")
		io.WriteString(w, "data")
	},
	"103": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "final")
	},
	"close": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	},
	"keepalive": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "keep-alive")
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ka")
	},
	"excess": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		_, err := io.WriteString(w, "abcdef")
		w.Header().Set("X-Err", fmt.Sprint(err)) // too late to be seen
		io.WriteString(w, "abc")
	},
	"short": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
	},
	"flush": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "one")
		w.(http.Flusher).Flush()
		io.WriteString(w, "two")
	},
	"identity": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "identity")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "stream")
	},
	"te+cl": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "chunked")
		w.Header().Set("Content-Length", "4")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "data")
	},
	"headlength": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
	},
	"ignorebody": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "did not read")
	},
	"halfbody": func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 3)
		io.ReadFull(r.Body, b)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "read %q", b)
	},
	"afterheader": func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Before", "1")
		w.WriteHeader(http.StatusAccepted)
		h.Set("X-After", "1") // not sent: the head was decided
		w.Header().Set("X-After2", "1")
		io.WriteString(w, "x")
	},
	"messy": func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Multi"] = []string{"a", " b ", "c\r\nd"}
		w.Header()["bad key"] = []string{"dropped"}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(299)
	},
	"upgrade101": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "foo")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
	},
}

func mapKeys(h http.Header) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}
}

var sniffed = map[string]bool{"hello": true, "empty": true, "length": true, "big": true, "exactly2048": true,
	"just2049": true, "204": true, "close": true, "keepalive": true, "excess": true, "short": true, "headlength": true,
	"upgrade101": true, "afterheader": true}

type diffCase struct {
	name, handler, raw string
	head               bool
}

const get11 = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

var diffCases = []diffCase{
	// Request parsing.
	{"simple", "echo", get11, false},
	{"common headers", "echo", "GET /p?q=1&r=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\nAccept: */*\r\naccept-encoding: gzip\r\nX-Custom-thing: v\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n", false},
	{"value blanks", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-A:   spaced  \t \r\nX-B:\r\nX-C:\tt\r\n\r\n", false},
	{"obs-fold", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-Fold: one\r\n  two \r\n\tthree\r\n\r\n", false},
	{"obs-fold blank", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-Fold: one\r\n   \r\nX-B: b\r\n\r\n", false},
	{"obs-fold empty first", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-Fold:\r\n two\r\n\r\n", false},
	{"fold first line", "echo", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", false},
	{"bare LF", "echo", "GET / HTTP/1.1\nHost: a\nX-A: b\n\n", false},
	{"bare CR in value", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", false},
	{"CTL in value", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", false},
	{"obs-text value", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n", false},
	{"DEL in value", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n", false},
	{"space in name", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", false},
	{"space before colon", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", false},
	{"bad byte in name", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", false},
	{"empty name", "echo", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", false},
	{"no colon", "echo", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", false},
	{"odd but valid name", "echo", "GET / HTTP/1.1\r\nHost: a\r\nx-!#$%&'*+.^_`|~: v\r\n\r\n", false},
	{"no host 1.1", "echo", "GET / HTTP/1.1\r\n\r\n", false},
	{"no host 1.0", "echo", "GET / HTTP/1.0\r\n\r\n", false},
	{"two hosts", "echo", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
	{"bad host", "echo", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false},
	{"empty host", "echo", "GET / HTTP/1.1\r\nHost:\r\n\r\n", false},
	{"absolute form", "echo", "GET http://Example.com:8080/a/b?c HTTP/1.1\r\nHost: other\r\n\r\n", false},
	{"absolute https", "echo", "GET HTTPS://user:pw@h/x HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"escaped path", "echo", "GET /a%2Fb/%41?x HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"bad escape", "echo", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"odd path bytes", "echo", "GET /a!*'()b#frag HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"force query", "echo", "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"two question marks", "echo", "GET /a?b? HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"double slash", "echo", "GET //a/b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"relative path", "echo", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"empty target", "echo", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"CTL in query", "echo", "GET /a?\x01 HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"options star", "echo", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"options star body", "echo", "OPTIONS * HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", false},
	{"connect authority", "echo", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", false},
	{"connect no host", "echo", "CONNECT example.com:443 HTTP/1.1\r\n\r\n", false},
	{"connect path", "echo", "CONNECT /rpc HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"lower-case method", "echo", "get / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"bad method", "echo", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"http/1.2", "echo", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", false},
	{"http/2.0", "echo", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", false},
	{"http/0.9", "echo", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", false},
	{"http/1.10", "echo", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", false},
	{"lower proto", "echo", "GET / http/1.1\r\nHost: a\r\n\r\n", false},
	{"extra space", "echo", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", false},
	{"one field", "echo", "GET\r\nHost: a\r\n\r\n", false},
	{"leading CRLF", "echo", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"pri upgrade", "echo", "PRI * HTTP/2.0\r\n\r\n", false},
	{"pragma", "echo", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n", false},
	{"pragma with cache-control", "echo", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nCache-Control: max-age=1\r\n\r\n", false},
	{"truncated head", "echo", "GET / HTTP/1.1\r\nHost: a\r\n", false},
	{"truncated line", "echo", "GET / HTT", false},
	{"nothing", "echo", "", false},
	{"expect other", "echo", "GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", false},
	{"huge header", "echo", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 10000) + "\r\n\r\n", false},
	{"many headers", "echo", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Many: v\r\n", 600) + "\r\n", false},
	{"too large", "echo", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Big: "+strings.Repeat("b", 1000)+"\r\n", 1100) + "\r\n", false},
	{"long target", "echo", "GET /" + strings.Repeat("a", 6000) + " HTTP/1.1\r\nHost: a\r\n\r\n", false},

	// Bodies.
	{"content-length body", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", false},
	{"zero length", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", false},
	{"length with blanks", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5 \r\n\r\nhello", false},
	{"equal duplicate lengths", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", false},
	{"conflicting lengths", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", false},
	{"bad length", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello", false},
	{"signed length", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", false},
	{"empty length", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", false},
	{"huge length", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", false},
	{"short body", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello", false},
	{"chunked", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", false},
	{"chunked upper", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", false},
	{"chunked trailers", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-T, x-other\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\nx-u: 2\r\n\r\n", false},
	{"bad trailer key", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", false},
	{"trailer not chunked", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTrailer: X-T\r\n\r\nx", false},
	{"malformed trailer", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nbad trailer\r\n\r\n", false},
	{"chunked and length", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
	{"chunked and bad length", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
	{"gzip encoding", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", false},
	{"chunked twice", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
	{"chunked, gzip", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", false},
	{"TE on 1.0", "echo", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nhi", false},
	{"bad TE without host", "echo", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", false},
	{"bad chunk size", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", false},
	{"chunk bare LF", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", false},
	{"chunk missing CRLF", "echo", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", false},
	{"expect 100", "echo", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", false},
	{"expect 100 unread", "ignorebody", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + get11, false},
	{"expect 100 on 1.0", "echo", "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", false},
	{"unread body kept alive", "ignorebody", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + get11, false},
	{"half read body", "halfbody", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789" + get11, false},
	{"unread chunked body", "ignorebody", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n" + get11, false},
	{"large unread body", "ignorebody", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n" + strings.Repeat("z", 300000) + get11, false},
	{"post then CRLF", "echo", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\n" + get11, false},

	// Pipelining and connection handling.
	{"pipelined", "echo", get11 + "GET /two HTTP/1.1\r\nHost: b\r\n\r\n" + get11, false},
	{"pipelined then bad", "echo", get11 + "BAD\r\n\r\n", false},
	{"connection close", "echo", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + get11, false},
	{"connection close token", "hello", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n" + get11, false},
	{"1.0 closes", "hello", "GET / HTTP/1.0\r\n\r\n" + get11, false},
	{"1.0 keep-alive", "hello", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false},
	{"1.0 keep-alive big", "big", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get11, false},
	{"1.0 keep-alive handler", "keepalive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get11, false},
	{"1.0 big", "big", "GET / HTTP/1.0\r\n\r\n", false},
	{"handler close", "close", get11 + get11, false},

	// Response framing.
	{"hello", "hello", get11 + get11, false},
	{"empty", "empty", get11, false},
	{"length", "length", get11 + get11, false},
	{"big", "big", get11 + get11, false},
	{"2048", "exactly2048", get11, false},
	{"2049", "just2049", get11, false},
	{"204", "204", get11 + get11, false},
	{"304", "304", get11 + get11, false},
	{"trailers", "trailers", get11 + get11, false},
	{"prefix trailer", "prefixtrailer", get11, false},
	{"103", "103", get11 + get11, false},
	{"103 on 1.0", "103", "GET / HTTP/1.0\r\n\r\n", false},
	{"excess", "excess", get11 + get11, false},
	{"short", "short", get11 + get11, false},
	{"flush", "flush", get11 + get11, false},
	{"identity", "identity", get11 + get11, false},
	{"te and cl", "te+cl", get11 + get11, false},
	{"after header", "afterheader", get11, false},
	{"messy headers", "messy", get11, false},
	{"101 without hijack", "upgrade101", get11 + get11, false},
	{"head hello", "hello", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"head empty", "empty", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"head length", "headlength", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"head big", "big", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"head 1.0", "hello", "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + "HEAD / HTTP/1.0\r\n\r\n", true},
}

// TestDifferential sends the same bytes to net/http and to this server,
// serving the same handler, and compares what comes back (but Date, and
// the Content-Type net/http sniffs).
func TestDifferential(t *testing.T) {
	h1 := map[string]string{}
	std := map[string]string{}
	for name, h := range diffHandlers {
		_, h1[name], _ = startH1(t, h)
		std[name] = startStd(t, h)
	}
	for _, tc := range diffCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diffHandlers[tc.handler] == nil {
				t.Fatalf("no handler %q", tc.handler)
			}
			want := exchangeRaw(t, std[tc.handler], tc.raw)
			got := exchangeRaw(t, h1[tc.handler], tc.raw)
			dw := dumpResponses(want, tc.head, sniffed[tc.handler])
			dg := dumpResponses(got, tc.head, sniffed[tc.handler])
			if dw != dg {
				t.Errorf("request %q\nnet/http:\n%s\nh1srv:\n%s\nraw net/http: %q\nraw h1srv:   %q", trunc(tc.raw), dw, dg, trunc(want), trunc(got))
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}
