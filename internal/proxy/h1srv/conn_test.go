package h1srv

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readResponse reads one response from br for a request of method.
func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func expectClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || (err != io.EOF && !isReset(err)) {
		t.Fatalf("connection still open: read %d, %v", n, err)
	}
}

// Expect: 100-continue: the interim answer comes with the first body
// read, not before, and the body follows it.
func TestExpectContinue(t *testing.T) {
	read := make(chan struct{})
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-read
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "got "+string(b))
	}))
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := br.Peek(1); err == nil {
		t.Fatal("answered before the handler read the body")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	close(read)
	line, _ := br.ReadString('\n')
	blank, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" || blank != "\r\n" {
		t.Fatalf("interim answer %q %q", line, blank)
	}
	io.WriteString(c, "hello")
	if resp, body := readResponse(t, br, "POST"); resp.StatusCode != 200 || body != "got hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}

	// A handler that answers without reading: no 100, and the
	// connection closes (the body may still come).
	_, addr, _ = startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	c = dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	br = bufio.NewReader(c)
	if resp, _ := readResponse(t, br, "POST"); resp.StatusCode != 403 || !resp.Close {
		t.Fatalf("%d close=%v", resp.StatusCode, resp.Close)
	}
	// As net/http, the server reads the body the client sends anyway (as
	// curl does after a second), so that closing does not reset.
	io.WriteString(c, "hello")
	expectClosed(t, c, time.Second)
}

// A request sent while the previous handler still runs, long enough for
// the disconnect watch to have read its first byte, is served intact,
// and that pipelined byte does not cancel the running request.
func TestPipelinedDuringBackgroundRead(t *testing.T) {
	ctxErr := make(chan error, 2)
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(10*backgroundReadDelay + 50*time.Millisecond)
		}
		ctxErr <- r.Context().Err()
		io.WriteString(w, r.URL.Path)
	}))
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(5 * backgroundReadDelay)
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"/slow", "/next"} {
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != want {
			t.Fatalf("%d %q, want %q", resp.StatusCode, body, want)
		}
		if err := <-ctxErr; err != nil {
			t.Fatalf("%s: context %v while the client was there", want, err)
		}
	}
}

// The request context ends promptly when the client goes away while the
// handler waits on it, directly or through a derived context; and it
// ends when the handler returns.
func TestDisconnectCancelsContext(t *testing.T) {
	for _, derived := range []bool{false, true} {
		seen := make(chan time.Duration, 1)
		_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if derived {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			start := time.Now()
			select {
			case <-ctx.Done():
				if !errors.Is(ctx.Err(), context.Canceled) {
					t.Errorf("err %v", ctx.Err())
				}
				seen <- time.Since(start)
			case <-time.After(5 * time.Second):
				seen <- -1
			}
		}))
		c := dial(t, addr)
		io.WriteString(c, get11)
		time.Sleep(50 * time.Millisecond)
		closed := time.Now()
		c.Close()
		d := <-seen
		if d < 0 || time.Since(closed) > time.Second {
			t.Fatalf("derived=%v: no cancellation after the client left (%v)", derived, d)
		}
	}

	got := make(chan context.Context, 1)
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Err() != nil {
			t.Error("cancelled while running")
		}
		got <- r.Context()
	}))
	c := dial(t, addr)
	io.WriteString(c, get11)
	readResponse(t, bufio.NewReader(c), "GET")
	ctx := <-got
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("context still live after the handler returned")
	}
	if v := ctx.Value(http.LocalAddrContextKey); v == nil || v.(net.Addr).String() != addr {
		t.Fatalf("LocalAddrContextKey = %v, want %s", v, addr)
	}
}

// Hijack hands over the connection with the bytes already read past the
// request, and the server leaves it alone afterwards.
func TestHijack(t *testing.T) {
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Lost", "not sent: hijacked before WriteHeader")
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
			t.Errorf("Write after Hijack: %v", err)
		}
		io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		// Echo lines until "bye".
		for {
			line, err := brw.ReadString('\n')
			if err != nil || line == "bye\n" {
				return
			}
			io.WriteString(brw, "echo "+line)
			brw.Flush()
		}
	}))
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// The first line travels with the request.
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "echo early\n" {
		t.Fatalf("%q", line)
	}
	io.WriteString(c, "late\n")
	if line, _ := br.ReadString('\n'); line != "echo late\n" {
		t.Fatalf("%q", line)
	}
	io.WriteString(c, "bye\n")
	expectClosed(t, c, time.Second)
}

// Flush sends what was written so far, chunked, while the handler runs.
func TestFlush(t *testing.T) {
	next := make(chan struct{})
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
		}
		<-next
		io.WriteString(w, "second")
	}))
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, get11)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 {
		t.Fatalf("%+v %v", resp, err)
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, b); err != nil || string(b) != "first" {
		t.Fatalf("%q %v", b, err)
	}
	close(next)
	if rest, _ := io.ReadAll(resp.Body); string(rest) != "second" {
		t.Fatalf("%q", rest)
	}
}

func TestWriteErrors(t *testing.T) {
	errs := make(chan []error, 1)
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got []error
		if r.URL.Path == "/204" {
			w.WriteHeader(204)
			_, err := w.Write([]byte("x"))
			got = append(got, err)
		} else {
			w.Header().Set("Content-Length", "2")
			_, err := w.Write([]byte("ab"))
			got = append(got, err)
			_, err = w.Write([]byte("c"))
			got = append(got, err)
		}
		errs <- got
	}))
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /204 HTTP/1.1\r\nHost: a\r\n\r\n")
	readResponse(t, br, "GET")
	if e := <-errs; e[0] != http.ErrBodyNotAllowed {
		t.Errorf("write to a 204: %v", e)
	}
	io.WriteString(c, get11)
	if _, body := readResponse(t, br, "GET"); body != "ab" {
		t.Errorf("body %q", body)
	}
	if e := <-errs; e[0] != nil || e[1] != http.ErrContentLength {
		t.Errorf("writes past Content-Length: %v", e)
	}
}

func TestTimeouts(t *testing.T) {
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(s *Server) {
		s.SetLimits(Limits{IdleTimeout: 100 * time.Millisecond, HeaderTimeout: 100 * time.Millisecond})
	})
	// Idle: the connection closes after a silent spell between requests.
	c := dial(t, addr)
	io.WriteString(c, get11)
	start := time.Now()
	readResponse(t, bufio.NewReader(c), "GET")
	expectClosed(t, c, 2*time.Second)
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("idle connection closed after %v", d)
	}
	// Header: an incomplete head is not waited for, and not answered.
	c = dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost:")
	start = time.Now()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Fatalf("%q %v", b, err)
	}
	if d := time.Since(start); d < 80*time.Millisecond || d > time.Second {
		t.Errorf("slow head cut after %v", d)
	}
	// The header timeout applies to the next request's head once it starts.
	c = dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, get11)
	readResponse(t, br, "GET")
	io.WriteString(c, "GET / HTTP/1.1\r\n")
	expectClosed(t, c, 2*time.Second)
}

// The idle or header deadline a request was read under does not reach
// its body, nor the watch for the client leaving during a long handler.
func TestDeadlinesEndWithTheHead(t *testing.T) {
	const timeout = 50 * time.Millisecond
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/long" {
			select {
			case <-r.Context().Done():
				t.Error("cancelled while the client waits")
			case <-time.After(4 * timeout):
			}
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("body: %v", err)
		}
		w.Write(b)
	}), func(s *Server) {
		s.SetLimits(Limits{IdleTimeout: timeout, HeaderTimeout: timeout})
	})
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, get11) // the next one is read under the idle deadline
	readResponse(t, br, "GET")
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n")
	time.Sleep(3 * timeout)
	io.WriteString(c, "late")
	if _, body := readResponse(t, br, "POST"); body != "late" {
		t.Fatalf("slow body: %q", body)
	}
	io.WriteString(c, "GET /long HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	// And the idle timeout still closes the connection afterwards.
	expectClosed(t, c, time.Second)
}

// Shutdown closes idle connections at once, lets a request in progress
// finish (its response says the connection closes), then returns.
func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	s, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	}))
	idle := dial(t, addr)
	io.WriteString(idle, get11)
	readResponse(t, bufio.NewReader(idle), "GET")
	busy := dial(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	expectClosed(t, idle, time.Second)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting")
	}
	close(release)
	resp, body := readResponse(t, bufio.NewReader(busy), "GET")
	if body != "done" || !resp.Close {
		t.Errorf("%q close=%v", body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expectClosed(t, busy, time.Second)

	// A drain that runs out of time says so; Close then ends it.
	release2 := make(chan struct{})
	defer close(release2)
	started2 := make(chan struct{})
	s2, addr2, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started2)
		<-release2
	}))
	c := dial(t, addr2)
	io.WriteString(c, get11)
	<-started2
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s2.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v", err)
	}
	s2.Close()
	expectClosed(t, c, time.Second)
}

// A panic ends the connection: nothing is sent if the response had not
// started; http.ErrAbortHandler is not logged, other panics are, with
// their stack.
func TestPanics(t *testing.T) {
	for _, tc := range []struct {
		path    string
		logged  bool
		partial string // what reaches the client before the close
	}{
		{"/abort", false, ""},
		{"/panic", true, ""},
		{"/flushed", true, "HTTP/1.1 200 OK"},
	} {
		_, addr, lb := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "some body")
			switch r.URL.Path {
			case "/abort":
				panic(http.ErrAbortHandler)
			case "/flushed":
				w.(http.Flusher).Flush()
			}
			panic("boom")
		}))
		out := exchangeRaw(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		if !strings.HasPrefix(out, tc.partial) || tc.partial == "" && out != "" {
			t.Errorf("%s: client got %q", tc.path, out)
		}
		deadline := time.Now().Add(time.Second)
		for tc.logged && lb.String() == "" && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		log := lb.String()
		if tc.logged != strings.Contains(log, "http: panic serving") || tc.logged && !strings.Contains(log, "goroutine ") {
			t.Errorf("%s: log %q", tc.path, log)
		}
	}
}

// A 1xx goes out at once, before the handler finishes.
func TestInformational(t *testing.T) {
	next := make(chan struct{})
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		<-next
		io.WriteString(w, "final")
	}))
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, get11)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 103 || resp.Header.Get("Link") == "" {
		t.Fatalf("%v %v", resp, err)
	}
	close(next)
	if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "final" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// The head and a small body leave in one write.
func TestOneWritePerResponse(t *testing.T) {
	mc := &countingConn{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(200)
		io.WriteString(w, "he")
		io.WriteString(w, "llo")
	})
	c := newConn(&Server{Handler: h}, mc)
	mc.memConn.r = strings.NewReader(get11 + get11)
	c.serveRequest()
	c.serveRequest()
	if mc.writes != 2 {
		t.Fatalf("%d writes for two responses", mc.writes)
	}
}

type countingConn struct {
	memConn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) { c.writes++; return len(p), nil }

// A connection CloseIdle closed before its goroutine waited for a request
// (an accept flood on a loaded machine) is not idle again: CloseIdle would
// count it a second time and a connection limit would refuse the next
// client though nothing was freed for it.
func TestClosedConnStaysClosed(t *testing.T) {
	srv := &Server{Handler: http.NotFoundHandler()}
	c := newConn(srv, &memConn{r: strings.NewReader("")})
	if !srv.track(c) {
		t.Fatal("not tracked")
	}
	if n := srv.CloseIdle(1); n != 1 {
		t.Fatalf("CloseIdle closed %d, want the new connection", n)
	}
	if c.waitForRequest() {
		t.Fatal("a closed connection waits for a request")
	}
	if n := srv.CloseIdle(1); n != 0 || c.state.Load() != connClosed {
		t.Fatalf("closed again: %d (state %d)", n, c.state.Load())
	}
}
