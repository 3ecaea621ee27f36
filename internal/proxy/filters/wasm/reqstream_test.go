package wasm

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

// guard bounds a wait that only a buffering filter would make endless:
// the tests fail (not hang) when the body does not stream.
const guard = 20 * time.Second

// pipeRequest is a POST whose body the test writes piece by piece.
func pipeRequest(path string) (*http.Request, *io.PipeWriter) {
	pr, pw := io.Pipe()
	r := httptest.NewRequest("POST", path, nil)
	r.Body, r.ContentLength = pr, -1
	return r, pw
}

// serveAsync runs the filter on its own goroutine and returns the
// recorder once it ended, with what Serve panicked with.
func serveAsync(f filters.Filter, r *http.Request, up filters.Next) <-chan result {
	done := make(chan result, 1)
	go func() {
		s, w := testStream(r)
		defer func() { done <- result{w: w, panicked: recover()} }()
		f.Serve(s, up)
	}()
	return done
}

type result struct {
	w        *httptest.ResponseRecorder
	panicked any
}

func await[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(guard):
		t.Fatalf("%s never happened", what)
		panic("unreachable")
	}
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

// The upstream gets the first piece of the body before the client sent
// the second: the plugin (the guide's Go plugin, whose SDK exports
// proxy_on_request_body and continues) lets each piece through as it
// comes, as Envoy does, instead of reading the whole body first.
func TestRequestBodyStreamsThroughThePlugin(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "header"))}, nil)
	r, client := pipeRequest("/upload")
	pieces := make(chan string)
	up := func(s *filters.Stream) {
		buf := make([]byte, 64)
		var all strings.Builder
		for {
			n, err := s.Request.Body.Read(buf)
			if n > 0 {
				pieces <- string(buf[:n])
				all.Write(buf[:n])
			}
			if err != nil {
				break
			}
		}
		s.Writer.WriteHeader(200)
		_, _ = io.WriteString(s.Writer, all.String())
	}
	done := serveAsync(f, r, up)
	write(t, client, "first;")
	if got := await(t, pieces, "the upstream reading the first piece"); got != "first;" {
		t.Fatalf("first piece %q", got)
	}
	write(t, client, "second")
	if got := await(t, pieces, "the upstream reading the second piece"); got != "second" {
		t.Fatalf("second piece %q", got)
	}
	_ = client.Close()
	res := await(t, done, "the end of the stream")
	if res.panicked != nil || res.w.Code != 200 || res.w.Body.String() != "first;second" || res.w.Header().Get("X-Wasm-Custom") != "FOO" {
		t.Fatalf("%v %d %q %v", res.panicked, res.w.Code, res.w.Body.String(), res.w.Header())
	}
}

// A plugin that stops on the body (StopIterationAndBuffer) sees it grown
// at each callback: "foo" split over two pieces is still rewritten, and
// the header it sets from the whole body goes with the headers it held.
func TestStoppedBodyGrowsAcrossPieces(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "body"))}, nil)
	r, client := pipeRequest("/")
	done := serveAsync(f, r, upstream)
	go func() {
		for _, p := range []string{"fo", "o and foo"} {
			_, _ = io.WriteString(client, p)
		}
		_ = client.Close()
	}()
	res := await(t, done, "the end of the stream")
	if res.w.Code != 200 || !strings.Contains(res.w.Body.String(), `"body":"bar and bar"`) || res.w.Header().Get("X-Echo-Length") != "11" {
		t.Fatalf("%d %q %v", res.w.Code, res.w.Body.String(), res.w.Header())
	}
}

// reportingUpstream says when it started (the headers went upstream),
// optionally sends its response headers first, then reads the body; a
// failed read is answered 503 through the writer, as the router answers
// an upstream request that failed.
func reportingUpstream(started chan<- struct{}, respondFirst bool) filters.Next {
	return func(s *filters.Stream) {
		if respondFirst { // the status line and some body go out
			s.Writer.WriteHeader(200)
			_, _ = io.WriteString(s.Writer, "partial")
			_ = http.NewResponseController(s.Writer).Flush()
		}
		close(started)
		if _, err := io.ReadAll(s.Request.Body); err != nil {
			s.Writer.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(s.Writer, "upstream reset")
			return
		}
		s.Writer.WriteHeader(200)
		_, _ = io.WriteString(s.Writer, "upstream answer")
	}
}

// A local reply from a body callback once the request went upstream
// aborts the upstream request and is the answer, as in Envoy.
func TestBodyLocalReplyAfterTheUpstreamStarted(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "auth"))}, nil)
	r, client := pipeRequest("/")
	r.Header.Set("Authorization", "Bearer letmein")
	started := make(chan struct{})
	done := serveAsync(f, r, reportingUpstream(started, false))
	await(t, started, "the upstream request")
	write(t, client, "please deny this")
	_ = client.Close()
	res := await(t, done, "the end of the stream")
	if res.panicked != nil || res.w.Code != 403 || res.w.Body.String() != "denied by wasm body" || res.w.Header().Get("X-Denied-By") != "wasm-body" {
		t.Fatalf("%v %d %q %v", res.panicked, res.w.Code, res.w.Body.String(), res.w.Header())
	}
}

// The router resets the stream when a body read fails while it buffers
// the body for retries or copies the response (it takes the client for
// gone): the plugin's answer is sent instead while nothing went out.
func TestBodyLocalReplyWhenTheRouterResets(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "auth"))}, nil)
	r, client := pipeRequest("/")
	r.Header.Set("Authorization", "Bearer letmein")
	started := make(chan struct{})
	done := serveAsync(f, r, func(s *filters.Stream) {
		close(started)
		if _, err := io.ReadAll(s.Request.Body); err != nil {
			panic(http.ErrAbortHandler)
		}
		s.Writer.WriteHeader(200)
	})
	await(t, started, "the upstream request")
	write(t, client, "deny")
	_ = client.Close()
	res := await(t, done, "the end of the stream")
	if res.panicked != nil || res.w.Code != 403 || res.w.Body.String() != "denied by wasm body" {
		t.Fatalf("%v %d %q", res.panicked, res.w.Code, res.w.Body.String())
	}
}

// Once the response started, the same reply can only reset the stream.
func TestBodyLocalReplyAfterTheResponseStartedResets(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "auth"))}, nil)
	r, client := pipeRequest("/")
	r.Header.Set("Authorization", "Bearer letmein")
	started := make(chan struct{})
	done := serveAsync(f, r, reportingUpstream(started, true))
	await(t, started, "the upstream request")
	write(t, client, "deny")
	_ = client.Close()
	res := await(t, done, "the end of the stream")
	if res.panicked != http.ErrAbortHandler || strings.Contains(res.w.Body.String(), "upstream answer") {
		t.Fatalf("%v %d %q", res.panicked, res.w.Code, res.w.Body.String())
	}
}

// A trap in a body callback after the request went upstream fails the
// stream with 503 wasm_fail_stream, or lets the rest through unchanged
// with fail_open.
func TestBodyCallbackFailureAfterTheUpstreamStarted(t *testing.T) {
	code := wasmtest.Build(t, "faults")
	for _, failOpen := range []bool{false, true} {
		f := build(t, opts{failOpen: failOpen, code: inline(code)}, nil)
		r, client := pipeRequest("/trap-body")
		started := make(chan struct{})
		done := serveAsync(f, r, reportingUpstream(started, false))
		await(t, started, "the upstream request")
		write(t, client, "data")
		_ = client.Close()
		res := await(t, done, "the end of the stream")
		switch {
		case res.panicked != nil:
			t.Fatalf("failOpen %v: panicked %v", failOpen, res.panicked)
		case failOpen && (res.w.Code != 200 || res.w.Body.String() != "upstream answer"):
			t.Errorf("failOpen: %d %q", res.w.Code, res.w.Body.String())
		case !failOpen && (res.w.Code != 503 || res.w.Header().Get("X-Details") != "wasm_fail_stream"):
			t.Errorf("%d %q %v", res.w.Code, res.w.Body.String(), res.w.Header())
		}
	}
}
