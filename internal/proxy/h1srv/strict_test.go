package h1srv

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func strict(s *Server) { s.Strict = true }

// onlyResponse parses out as exactly one response that closes the
// connection and returns its status and body.
func onlyResponse(t *testing.T, raw, out string) (int, string) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(out))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: no response: %v (%q)", trunc(raw), err, trunc(out))
	}
	body, _ := io.ReadAll(resp.Body)
	if !resp.Close {
		t.Errorf("%q: the refusal keeps the connection", trunc(raw))
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Errorf("%q: more after the refusal: %q", trunc(raw), rest)
	}
	return resp.StatusCode, string(body)
}

// TestStrictRefusals: what Envoy's codec refuses and net/http serves, a
// Strict server refuses with Envoy's status and words, then closes; the
// next request on the connection is never read.
func TestStrictRefusals(t *testing.T) {
	_, addr, _ := startH1(t, diffHandlers["echo"], strict)
	std := startStd(t, diffHandlers["echo"])
	for _, tc := range []struct {
		name, raw string
		code      int
	}{
		{"length and chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"chunked and length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"chunked on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"gzip on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nhi", 400},
		{"http/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
		{"http/1.9", "GET / HTTP/1.9\r\nHost: a\r\n\r\n", 505},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := onlyResponse(t, tc.raw, exchangeRaw(t, addr, tc.raw+get11))
			if code != tc.code || body != http.StatusText(tc.code) {
				t.Errorf("%d %q, want %d %q", code, body, tc.code, http.StatusText(tc.code))
			}
			// net/http serves these: the difference is deliberate.
			if out := exchangeRaw(t, std, tc.raw); strings.HasPrefix(out, "HTTP/1.1 "+itoa3(tc.code)) {
				t.Errorf("net/http refuses it too (%q): not a Strict difference", trunc(out))
			}
		})
	}
	// What both refuse keeps net/http's status.
	code, body := onlyResponse(t, "gzip", exchangeRaw(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"))
	if code != 501 || body != "Not Implemented" {
		t.Errorf("gzip: %d %q", code, body)
	}
}

// TestHeadLimits: a head over MaxHeaderBytes (request line and header
// lines, raw) or with more than MaxHeaders fields is answered 431, in
// the buffer and past it; one at the limits is served.
func TestHeadLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxBytes  int
		maxFields int
	}{{"small", 1024, 5}, {"envoy's defaults", 60 << 10, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _ := startH1(t, diffHandlers["hello"], strict, func(s *Server) {
				s.SetLimits(Limits{MaxHeaderBytes: tc.maxBytes, MaxHeaders: tc.maxFields})
			})
			head := func(size, fields int) string {
				var b strings.Builder
				b.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
				for i := 2; i < fields; i++ {
					b.WriteString("X-F: v\r\n")
				}
				// The last field fills the head up to size bytes, blank line included.
				filler := size - b.Len() - len("X-Pad: \r\n\r\n")
				b.WriteString("X-Pad: " + strings.Repeat("p", filler) + "\r\n\r\n")
				if b.Len() != size {
					t.Fatalf("built %d bytes, not %d", b.Len(), size)
				}
				return b.String()
			}
			for _, c := range []struct {
				raw  string
				code int
			}{
				{head(tc.maxBytes, tc.maxFields), 200},
				{head(tc.maxBytes+1, tc.maxFields), 431},
				{head(tc.maxBytes/2, tc.maxFields+1), 431},
				{"GET /" + strings.Repeat("u", tc.maxBytes) + " HTTP/1.1\r\nHost: a\r\n\r\n", 431},
			} {
				out := exchangeRaw(t, addr, c.raw)
				if !strings.HasPrefix(out, "HTTP/1.1 "+itoa3(c.code)) {
					t.Errorf("%d bytes: %q, want %d", len(c.raw), trunc(out), c.code)
				}
			}
		})
	}
}

// TestStrictHeadTimeouts: a head that stops coming is answered 408 once
// the stream idle timeout or the header timeout (whichever is sooner)
// has run from its first byte, with Envoy's words for each.
func TestStrictHeadTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		lim  Limits
		body string
	}{
		{"stream idle", Limits{StreamIdleTimeout: 50 * time.Millisecond, HeaderTimeout: time.Hour}, "stream timeout"},
		{"request headers", Limits{StreamIdleTimeout: time.Hour, HeaderTimeout: 50 * time.Millisecond}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _ := startH1(t, diffHandlers["hello"], strict, func(s *Server) { s.SetLimits(tc.lim) })
			c := dial(t, addr)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nX-Half: ")
			out, err := io.ReadAll(c)
			if err != nil && !isReset(err) {
				t.Fatalf("%v (%q)", err, out)
			}
			if code, body := onlyResponse(t, "partial head", string(out)); code != 408 || body != tc.body {
				t.Errorf("%d %q, want 408 %q", code, body, tc.body)
			}
		})
	}
}

// TestIdleTimeoutFromAccept: a connection that never sends a byte is
// closed after the idle timeout, as Envoy's connection idle timer runs
// from the accept (before, only the header timeout ran there).
func TestIdleTimeoutFromAccept(t *testing.T) {
	_, addr, _ := startH1(t, diffHandlers["hello"], strict, func(s *Server) {
		s.SetLimits(Limits{IdleTimeout: 50 * time.Millisecond})
	})
	c := dial(t, addr)
	expectClosed(t, c, 5*time.Second)
}

// TestStrictAnswersWithoutTheBody: a handler that answers while another
// goroutine is blocked reading a body the client stopped sending (the
// proxy's upload to an upstream that timed out) gets its response to
// the client: the read is interrupted and the connection then closes.
// net/http would first wait to read the rest of the body.
func TestStrictAnswersWithoutTheBody(t *testing.T) {
	readErr := make(chan error, 1)
	_, addr, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := make(chan struct{})
		go func() {
			r.Body.Read(make([]byte, 64)) // what the client sent; the rest never comes
			close(started)
			_, err := io.ReadAll(r.Body)
			readErr <- err
		}()
		<-started
		w.Header().Set("Content-Length", "14")
		w.WriteHeader(http.StatusRequestTimeout)
		io.WriteString(w, "stream timeout")
	}), strict)
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nfirst ten.")
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br, "POST")
	if resp.StatusCode != 408 || body != "stream timeout" || !resp.Close {
		t.Fatalf("%d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if err := <-readErr; err == nil {
		t.Error("the blocked body read ended without an error")
	}
	expectClosed(t, c, 5*time.Second)
}
