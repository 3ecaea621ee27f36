package h1client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testPool is an Pool to addr that counts its dials.
type testPool struct {
	*Pool
	dials    atomic.Int32
	fallback atomic.Int32
}

func newTestPool(t testing.TB, addr string, maxConns int) *testPool {
	tp := &testPool{}
	tp.Pool = NewPool("tcp", addr, time.Second, maxConns, func() http.RoundTripper {
		return roundTripFunc(func(*http.Request) (*http.Response, error) {
			tp.fallback.Add(1)
			return nil, errors.New("fallback")
		})
	})
	tp.onDial = func(net.Conn) { tp.dials.Add(1) }
	t.Cleanup(tp.CloseIdleConnections)
	return tp
}

// settle waits until no connection is busy: a body writer may still be
// returning its connection after the response ended.
func (tp *testPool) settle(t testing.TB) {
	for i := 0; ; i++ {
		tp.mu.Lock()
		busy := tp.open - len(tp.idle)
		tp.mu.Unlock()
		if busy == 0 {
			return
		}
		if i > 1e6 {
			t.Fatalf("%d connections still busy", busy)
		}
		runtime.Gosched()
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newReq(t testing.TB, ctx context.Context, method, addr, path string, body io.Reader) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends one request and reads the whole response.
func (tp *testPool) do(t testing.TB, req *http.Request) (*http.Response, string, error) {
	resp, err := tp.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// rawServer runs handle on every connection accepted on a loopback port.
func rawServer(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String()
}

// readRequest reads one request head and body off a raw connection.
func readRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(r.Body)
	return r, b, err
}

// A net/http backend: every behaviour that does not need a raw socket.
func TestH1PoolExchanges(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "3")
	})
	mux.HandleFunc("/head", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000") // HEAD: the length of the body a GET would get
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(304)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	mux.HandleFunc("/bigchunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(big); i += 100_000 {
			w.Write(big[i:min(i+100_000, len(big))])
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%s %d %d %s", r.Method, n, r.ContentLength, hex.EncodeToString(h.Sum(nil))[:16])
	})
	be := httptest.NewServer(mux)
	t.Cleanup(be.Close)
	addr := be.Listener.Addr().String()
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:])[:16] }

	cases := []struct {
		name, method, path string
		body               func() io.Reader
		chunkedBody        bool // ContentLength -1
		code               int
		want               string
		trailer            string // X-Sum
		dials              int32  // after two identical requests
	}{
		{name: "keep-alive reuse", method: "GET", path: "/hello", code: 200, want: "hello", dials: 1},
		{name: "chunked response with trailer", method: "GET", path: "/chunked", code: 200, want: "part0;part1;part2;", trailer: "3", dials: 1},
		{name: "HEAD has no body", method: "HEAD", path: "/head", code: 200, want: "", dials: 1},
		{name: "204 has no body", method: "GET", path: "/204", code: 204, want: "", dials: 1},
		{name: "304 has no body", method: "GET", path: "/304", code: 304, want: "", dials: 1},
		{name: "large response", method: "GET", path: "/big", code: 200, want: string(big), dials: 1},
		{name: "large chunked response", method: "GET", path: "/bigchunked", code: 200, want: string(big), dials: 1},
		{name: "connection close", method: "GET", path: "/close", code: 200, want: "bye", dials: 2},
		{name: "large request body", method: "POST", path: "/sum", body: func() io.Reader { return bytes.NewReader(big) },
			code: 200, want: fmt.Sprintf("POST %d %d %s", len(big), len(big), sum(big)), dials: 1},
		{name: "chunked request body", method: "PUT", path: "/sum", body: func() io.Reader { return bytes.NewReader(big) }, chunkedBody: true,
			code: 200, want: fmt.Sprintf("PUT %d -1 %s", len(big), sum(big)), dials: 1},
		{name: "empty POST", method: "POST", path: "/sum", code: 200, want: fmt.Sprintf("POST 0 0 %s", sum(nil)), dials: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tp := newTestPool(t, addr, 0)
			for i := 0; i < 2; i++ {
				var body io.Reader
				if c.body != nil {
					body = c.body()
				}
				req := newReq(t, context.Background(), c.method, addr, c.path, body)
				if c.chunkedBody {
					req.Body, req.ContentLength = io.NopCloser(body), -1
				}
				resp, got, err := tp.do(t, req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if resp.StatusCode != c.code || got != c.want {
					t.Fatalf("request %d: %d %.60q, want %d %.60q", i, resp.StatusCode, got, c.code, c.want)
				}
				if tr := resp.Trailer.Get("X-Sum"); tr != c.trailer {
					t.Errorf("trailer X-Sum %q, want %q", tr, c.trailer)
				}
				tp.settle(t)
			}
			if n := tp.dials.Load(); n != c.dials {
				t.Errorf("%d connections for two requests, want %d", n, c.dials)
			}
		})
	}
}

// What the pool writes: framing from the request's fields, Host from
// req.Host, headers trimmed, and invalid values refused before sending.
func TestH1PoolRequestFraming(t *testing.T) {
	heads := make(chan string, 10)
	addr := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			r, body, err := readRequest(br)
			if err != nil {
				return
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s host=%s cl=%q te=%q conn=%q x=%q ua=%q body=%q", r.Method, r.RequestURI, r.Host,
				r.Header.Get("Content-Length"), strings.Join(r.TransferEncoding, ","), r.Header.Get("Connection"),
				r.Header.Values("X-A"), r.Header.Get("User-Agent"), body)
			heads <- b.String()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	tp := newTestPool(t, addr, 0)
	cases := []struct {
		name string
		req  func() *http.Request
		want string
	}{
		{"GET sends no length", func() *http.Request {
			r := newReq(t, context.Background(), "GET", addr, "/a?b=c", nil)
			r.Host = "example.com"
			r.Header["X-A"] = []string{" one ", "two"}
			return r
		}, `GET /a?b=c host=example.com cl="" te="" conn="" x=["one" "two"] ua="" body=""`},
		{"POST without body sends Content-Length: 0", func() *http.Request {
			return newReq(t, context.Background(), "POST", addr, "/", nil)
		}, `POST / host=` + addr + ` cl="0" te="" conn="" x=[] ua="" body=""`},
		{"DELETE without body sends no length", func() *http.Request {
			return newReq(t, context.Background(), "DELETE", addr, "/d", nil)
		}, `DELETE /d host=` + addr + ` cl="" te="" conn="" x=[] ua="" body=""`},
		{"unknown length is chunked; a stale Content-Length header is not sent", func() *http.Request {
			r := newReq(t, context.Background(), "POST", addr, "/", nil)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("abc")), -1
			r.Header.Set("Content-Length", "99")
			return r
		}, `POST / host=` + addr + ` cl="" te="chunked" conn="" x=[] ua="" body="abc"`},
		{"req.Close asks the upstream to close", func() *http.Request {
			r := newReq(t, context.Background(), "GET", addr, "/", nil)
			r.Close = true
			return r
		}, `GET / host=` + addr + ` cl="" te="" conn="close" x=[] ua="" body=""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := tp.do(t, c.req()); err != nil {
				t.Fatal(err)
			}
			if got := <-heads; got != c.want {
				t.Errorf("upstream saw\n %s\nwant\n %s", got, c.want)
			}
		})
	}

	for _, bad := range []func(r *http.Request){
		func(r *http.Request) { r.Header.Set("X-Evil", "a\r\nX-Injected: 1") },
		func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} },
		func(r *http.Request) { r.Host = "a\r\nb" },
		func(r *http.Request) { r.Method = "GET /x" },
	} {
		r := newReq(t, context.Background(), "GET", addr, "/", nil)
		bad(r)
		if _, err := tp.RoundTrip(r); err == nil {
			t.Errorf("invalid request %v sent", r)
		}
	}
	select {
	case h := <-heads:
		t.Errorf("an invalid request reached the upstream: %s", h)
	default:
	}
}

// Raw upstreams for what net/http's server never does on its own.
func TestH1PoolUpstreamMisbehaviour(t *testing.T) {
	// Answers one request per connection, keep-alive, then closes it
	// without saying so (an idle timeout as the request goes out).
	closed := make(chan struct{}, 10)
	oneShot := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closed <- struct{}{}
	})
	t.Run("upstream closed the idle connection", func(t *testing.T) {
		for _, method := range []string{"GET", "POST"} {
			tp := newTestPool(t, oneShot, 0)
			for i := 0; i < 3; i++ {
				var body io.Reader
				if method == "POST" {
					body = strings.NewReader("payload") // not repeatable: the probe must catch the close
				}
				_, got, err := tp.do(t, newReq(t, context.Background(), method, oneShot, "/", body))
				if err != nil || got != "ok" {
					t.Fatalf("%s %d on a connection the upstream closed: %q %v", method, i, got, err)
				}
				<-closed
			}
			if n := tp.dials.Load(); n != 3 {
				t.Errorf("%s: %d dials, want 3 (one per request)", method, n)
			}
		}
	})

	t.Run("a bodiless request that could not be sent at all is sent again", func(t *testing.T) {
		// The upstream resets the connection after its answer; with the
		// probe off, the next request's write fails with nothing sent,
		// which is safe to repeat even for POST. A request whose bytes
		// left (nothing read back) is not repeated when it is a POST.
		rst := rawServer(t, func(c net.Conn, br *bufio.Reader) {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			closed <- struct{}{}
		})
		tp := newTestPool(t, rst, 0)
		tp.peek = func(*h1Conn) bool { return true }
		for i := 0; i < 3; i++ {
			_, got, err := tp.do(t, newReq(t, context.Background(), "POST", rst, "/", nil))
			if err != nil || got != "ok" {
				t.Fatalf("POST %d after a reset: %q %v", i, got, err)
			}
			<-closed
		}
	})

	t.Run("a body that ends early is an error and the connection is not reused", func(t *testing.T) {
		reset := rawServer(t, func(c net.Conn, br *bufio.Reader) {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
			c.Write(bytes.Repeat([]byte("x"), 100))
			c.(*net.TCPConn).SetLinger(0) // RST, as a crashing upstream
		})
		tp := newTestPool(t, reset, 0)
		resp, err := tp.RoundTrip(newReq(t, context.Background(), "GET", reset, "/", nil))
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil || n > 100 {
			t.Fatalf("read %d bytes, err %v: want an error after at most 100", n, err)
		}
		resp.Body.Close()
		if len(tp.idle) != 0 || tp.open != 0 {
			t.Errorf("broken connection kept: idle %d open %d", len(tp.idle), tp.open)
		}
	})

	t.Run("1xx responses are skipped, HTTP/1.0 closes", func(t *testing.T) {
		addr := rawServer(t, func(c net.Conn, br *bufio.Reader) {
			for {
				if _, _, err := readRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
				io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\ndone")
			}
		})
		tp := newTestPool(t, addr, 0)
		for i := 0; i < 2; i++ {
			resp, got, err := tp.do(t, newReq(t, context.Background(), "GET", addr, "/", nil))
			if err != nil || resp.StatusCode != 200 || got != "done" {
				t.Fatalf("%v %q %v", resp, got, err)
			}
		}
		if n := tp.dials.Load(); n != 2 {
			t.Errorf("HTTP/1.0 response without keep-alive: %d dials, want 2", n)
		}
	})

	t.Run("an early answer while the body is still being sent", func(t *testing.T) {
		addr := rawServer(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 3\r\n\r\nbig")
			time.Sleep(50 * time.Millisecond) // let the client read it before the reset
		})
		tp := newTestPool(t, addr, 0)
		stop := make(chan struct{})
		defer close(stop)
		body := io.MultiReader(strings.NewReader("start"), blockingReader(stop)) // ends only with the test
		req := newReq(t, context.Background(), "POST", addr, "/", body)
		req.ContentLength = 1 << 30
		resp, got, err := tp.do(t, req)
		if err != nil || resp.StatusCode != 413 || got != "big" {
			t.Fatalf("%v %q %v", resp, got, err)
		}
		if len(tp.idle) != 0 {
			t.Error("connection with half a request body reused")
		}
	})

	t.Run("connect failure is a dial error", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead := ln.Addr().String()
		ln.Close()
		tp := newTestPool(t, dead, 0)
		_, err := tp.RoundTrip(newReq(t, context.Background(), "GET", dead, "/", nil))
		if !isConnectError(err) {
			t.Errorf("error %v is not a connect failure", err)
		}
		if tp.open != 0 {
			t.Errorf("failed dial holds a slot: open %d", tp.open)
		}
	})

	t.Run("upgrades go to net/http", func(t *testing.T) {
		tp := newTestPool(t, oneShot, 0)
		req := newReq(t, context.Background(), "GET", oneShot, "/", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		tp.RoundTrip(req)
		if tp.fallback.Load() != 1 || tp.dials.Load() != 0 {
			t.Errorf("upgrade: fallback %d dials %d", tp.fallback.Load(), tp.dials.Load())
		}
	})
}

// blockingReader is a request body whose client stalls until stop closes.
type blockingReader chan struct{}

func (b blockingReader) Read([]byte) (int, error) { <-b; return 0, io.ErrUnexpectedEOF }

// isConnectError is the router's test for a connect failure (UF): a dial
// error, as net/http's Transport reports it too.
func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Timeouts and cancellation end blocked reads; the connection is dropped.
func TestH1PoolTimeouts(t *testing.T) {
	release := make(chan struct{})
	slow := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		r, _, err := readRequest(br)
		if err != nil {
			return
		}
		if r.URL.Path == "/midbody" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
		}
		<-release
	})
	t.Cleanup(func() { close(release) }) // before rawServer's cleanup waits for the handlers
	for _, path := range []string{"/head", "/midbody"} {
		t.Run(path, func(t *testing.T) {
			tp := newTestPool(t, slow, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			resp, err := tp.RoundTrip(newReq(t, ctx, "GET", slow, path, nil))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v, want a deadline", err)
			}
			if tp.open != 0 || len(tp.idle) != 0 {
				t.Errorf("timed-out connection kept: open %d idle %d", tp.open, len(tp.idle))
			}
		})
	}
}

// max_connections: requests beyond it wait for a connection, and one that
// gives up leaves no slot behind.
func TestH1PoolMaxConnections(t *testing.T) {
	gate := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-gate
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(be.Close)
	addr := be.Listener.Addr().String()
	tp := newTestPool(t, addr, 1)

	first, err := tp.RoundTrip(newReq(t, context.Background(), "GET", addr, "/wait", nil))
	if err != nil {
		t.Fatal(err)
	}
	// The only connection is busy until first's body ends: the next
	// request waits, and one that gives up while waiting leaves.
	second := make(chan error, 1)
	go func() {
		_, got, err := tp.do(t, newReq(t, context.Background(), "GET", addr, "/", nil))
		if err == nil && got != "ok" {
			err = fmt.Errorf("got %q", got)
		}
		second <- err
	}()
	waiters := func() int { tp.mu.Lock(); defer tp.mu.Unlock(); return len(tp.waiters) }
	for waiters() != 1 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	third := make(chan error, 1)
	go func() {
		_, err := tp.RoundTrip(newReq(t, ctx, "GET", addr, "/", nil))
		third <- err
	}()
	for waiters() != 2 {
		runtime.Gosched()
	}
	cancel()
	if err := <-third; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	close(gate)
	if b, err := io.ReadAll(first.Body); err != nil || string(b) != "ok" {
		t.Fatalf("first: %q %v", b, err)
	}
	first.Body.Close()
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if n := tp.dials.Load(); n != 1 {
		t.Errorf("%d connections with max_connections 1", n)
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.open != 1 || len(tp.waiters) != 0 {
		t.Errorf("open %d waiters %d, want 1 and 0", tp.open, len(tp.waiters))
	}
}
