package h1srv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuf collects a server's ErrorLog.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startH1 serves h with this package's server; configure may set fields
// before it starts.
func startH1(t testing.TB, h http.Handler, configure ...func(*Server)) (*Server, string, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	s := &Server{Handler: h, ErrorLog: log.New(lb, "", 0)}
	for _, f := range configure {
		f(s)
	}
	ln := listen(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s, ln.Addr().String(), lb
}

// startStd serves h with net/http, for comparison.
func startStd(t testing.TB, h http.Handler) string {
	t.Helper()
	s := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	ln := listen(t)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// exchangeRaw sends raw, half-closes, and returns everything the server
// sent until it closed.
func exchangeRaw(t testing.TB, addr, raw string) string {
	t.Helper()
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("reading the answer to %q: %v (got %q)", raw, err, b)
	}
	return string(b)
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

// dumpResponses parses the responses in out (HEAD requests when head is
// set) into a comparable text: status, framing, headers but Date (and
// Content-Type when dropCT), body, trailers, then whatever did not parse.
func dumpResponses(out string, head bool, dropCT bool) string {
	br := bufio.NewReader(strings.NewReader(out))
	var b strings.Builder
	method := "GET"
	if head {
		method = "HEAD"
	}
	for i := 0; ; i++ {
		if _, err := br.Peek(1); err == io.EOF {
			break
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			rest, _ := io.ReadAll(br)
			fmt.Fprintf(&b, "#%d unparsable: %v; rest %q\n", i, err, rest)
			break
		}
		body, berr := io.ReadAll(resp.Body)
		fmt.Fprintf(&b, "#%d %s %s\n", i, resp.Proto, resp.Status)
		fmt.Fprintf(&b, "  length=%d te=%v close=%v\n", resp.ContentLength, resp.TransferEncoding, resp.Close)
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range resp.Header {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			if k == "Date" || k == "Content-Type" && dropCT {
				continue
			}
			fmt.Fprintf(&b, "  %s: %q\n", k, resp.Header[k])
		}
		fmt.Fprintf(&b, "  body %q err=%v trailer=%v\n", body, berr, resp.Trailer)
	}
	return b.String()
}
