package h1srv

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// A GET as wrk or a browser sends it: six headers.
const benchGET = "GET /index.html?x=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: bench/1.0\r\n" +
	"Accept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: 0123456789\r\nCookie: a=b\r\n\r\n"

var (
	benchBody   = bytes.Repeat([]byte("x"), 128)
	benchType   = []string{"text/plain"}
	benchLength = []string{"128"}
)

// The proxy's shape of handler: copy the upstream's header values (no
// allocation), declare the length, write the body.
func benchHandler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = benchType
	h["Content-Length"] = benchLength
	w.WriteHeader(http.StatusOK)
	w.Write(benchBody)
}

// loopReader is an endless stream of the same request.
type loopReader struct {
	req []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.req[l.off:])
	l.off = (l.off + n) % len(l.req)
	return n, nil
}

// TestAllocsPerRequest counts the server's allocations for one GET with
// six headers: the request (with its URL, context, body and writer), its
// head as one string, the values' backing array and the Header map.
func TestAllocsPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		max  float64
	}{
		{"plain", benchHandler, 5},
		// As the proxy's stream timers: a context derived from the
		// request's costs its Done channel and AfterFunc registration.
		{"derived context", func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithCancelCause(r.Context())
			benchHandler(w, r.WithContext(ctx))
			cancel(nil)
		}, 11},
	} {
		c := newConn(&Server{Handler: tc.h}, &memConn{r: &loopReader{req: []byte(benchGET)}})
		n := testing.AllocsPerRun(1000, func() {
			if !c.serveRequest() {
				t.Fatal("connection not kept")
			}
		})
		t.Logf("%s: %v allocations per request", tc.name, n)
		if n > tc.max {
			t.Errorf("%s: %v allocations per request, want at most %v", tc.name, n, tc.max)
		}
	}
}

// BenchmarkGET is a GET round trip on loopback against this server and
// net/http, with a client that allocates nothing per request.
func BenchmarkGET(b *testing.B) {
	for _, server := range []string{"h1srv", "net/http"} {
		b.Run(server, func(b *testing.B) {
			var addr string
			if server == "h1srv" {
				_, addr, _ = startH1(b, http.HandlerFunc(benchHandler))
			} else {
				addr = startStd(b, http.HandlerFunc(benchHandler))
			}
			c := dial(b, addr)
			br := bufio.NewReader(c)
			req := []byte(benchGET)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := readBenchResponse(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readBenchResponse skips one response with a Content-Length body.
func readBenchResponse(br *bufio.Reader) error {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := br.Discard(n)
	return err
}

// BenchmarkServer is the servers' own cost per request, without a network
// or a client: each reads the same GET from an endless stream and writes
// its response nowhere.
func BenchmarkServer(b *testing.B) {
	for _, server := range []string{"h1srv", "net/http"} {
		b.Run(server, func(b *testing.B) {
			served := make(chan struct{}, 1024)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				benchHandler(w, r)
				served <- struct{}{}
			})
			ln := &oneConnListener{c: &memConn{r: &loopReader{req: []byte(benchGET)}}, done: make(chan struct{})}
			b.ReportAllocs()
			b.ResetTimer()
			if server == "h1srv" {
				go (&Server{Handler: h}).Serve(ln)
			} else {
				go (&http.Server{Handler: h}).Serve(ln)
			}
			for range b.N {
				<-served
			}
			b.StopTimer()
			close(ln.done)
		})
	}
}

// oneConnListener accepts c once, then blocks until done.
type oneConnListener struct {
	c    net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }
