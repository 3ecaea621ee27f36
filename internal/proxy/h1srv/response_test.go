package h1srv

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var dateLineRE = regexp.MustCompile(`Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n`)

// TestResponseFraming spells out the bytes of each kind of response (the
// differential test only says they match net/http's).
func TestResponseFraming(t *testing.T) {
	const date = "Date: *\r\n"
	hello := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		req  string
		want string
	}{
		{"computed length", hello, get11,
			"HTTP/1.1 200 OK\r\n" + date + "Content-Length: 5\r\n\r\nhello"},
		{"declared length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.Header().Set("X-A", "1")
			io.WriteString(w, "hello")
		}, get11, "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 5\r\n" + date + "\r\nhello"},
		{"chunked past 2048 bytes", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, strings.Repeat("a", 2049))
		}, get11, "HTTP/1.1 200 OK\r\n" + date + "Transfer-Encoding: chunked\r\n\r\n801\r\n" + strings.Repeat("a", 2049) + "\r\n0\r\n\r\n"},
		{"HTTP/1.0 without length", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, strings.Repeat("a", 2049))
		}, "GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK\r\n" + date + "\r\n" + strings.Repeat("a", 2049)},
		{"HTTP/1.0 keep-alive", hello, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			"HTTP/1.0 200 OK\r\n" + date + "Content-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"},
		{"HEAD keeps the length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "99")
		}, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n" + date + "\r\n"},
		{"HEAD with a body written", hello, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Length: 5\r\n\r\n"},
		{"204", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "3")
			w.WriteHeader(204)
		}, get11, "HTTP/1.1 204 No Content\r\n" + date + "\r\n"},
		{"304", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Etag", `"1"`)
			w.WriteHeader(304)
		}, get11, "HTTP/1.1 304 Not Modified\r\nEtag: \"1\"\r\n" + date + "\r\n"},
		{"trailers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Sum")
			w.WriteHeader(200)
			io.WriteString(w, "ab")
			w.Header().Set("X-Sum", "3")
			w.Header().Set(http.TrailerPrefix+"X-More", "4")
		}, get11, "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\n" + date + "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-More: 4\r\nX-Sum: 3\r\n\r\n"},
		{"103 then 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "<x>")
			w.WriteHeader(103)
			io.WriteString(w, "hello")
		}, get11, "HTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\nHTTP/1.1 200 OK\r\nLink: <x>\r\n" + date + "Content-Length: 5\r\n\r\nhello"},
		{"request asks to close", hello, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + get11,
			"HTTP/1.1 200 OK\r\n" + date + "Content-Length: 5\r\nConnection: close\r\n\r\nhello"},
		{"handler closes", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "hello")
		}, get11 + get11, "HTTP/1.1 200 OK\r\nConnection: close\r\n" + date + "Content-Length: 5\r\n\r\nhello"},
		{"excess body dropped", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "2")
			io.WriteString(w, "abc")
			io.WriteString(w, "ab")
		}, get11, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + date + "\r\n"},
		{"unset content type stays unset", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html><body>")
		}, get11, "HTTP/1.1 200 OK\r\n" + date + "Content-Length: 12\r\n\r\n<html><body>"},
		{"values cleaned", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["X-A"] = []string{" a\r\nb ", "c"}
			w.Header()["Bad Name"] = []string{"x"}
		}, get11, "HTTP/1.1 200 OK\r\nX-A: a  b\r\nX-A: c\r\n" + date + "Content-Length: 0\r\n\r\n"},
		{"expectation failed", hello, "GET / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n",
			"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\n" + date + "Content-Length: 0\r\n\r\n"},
		{"bad request", hello, "GET / HTTP/1.1\r\n\r\n",
			"HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _ := startH1(t, tc.h)
			got := dateLineRE.ReplaceAllString(exchangeRaw(t, addr, tc.req), date)
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
