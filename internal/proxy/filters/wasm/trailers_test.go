package wasm

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

// trailerBody is a chunked request body whose trailers arrive with its
// end, as the proxy's servers fill Request.Trailer.
type trailerBody struct {
	r        *http.Request
	data     io.Reader
	trailers http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.data.Read(p)
	if err == io.EOF {
		b.r.Trailer = b.trailers
	}
	return n, err
}

func (b *trailerBody) Close() error { return nil }

func requestWithTrailers(body string, trailers http.Header) *http.Request {
	r := httptest.NewRequest("POST", "/grpc", nil)
	r.ContentLength = -1
	r.TransferEncoding = []string{"chunked"}
	r.Body = &trailerBody{r: r, data: strings.NewReader(body), trailers: trailers}
	return r
}

// trailerUpstream reads the request to its end, echoes its body, answers
// with grpc-status in the trailers as the router sets them (net/http's
// TrailerPrefix keys after the body), and reports the request trailers
// it got in x-upstream-saw.
func trailerUpstream(s *filters.Stream) {
	b, _ := io.ReadAll(s.Request.Body)
	h := s.Writer.Header()
	h.Set("Content-Type", "application/grpc")
	s.Writer.WriteHeader(200)
	_, _ = s.Writer.Write(b)
	h[http.TrailerPrefix+"Grpc-Status"] = []string{"0"}
	h[http.TrailerPrefix+"X-Upstream-Saw"] = []string{s.Request.Trailer.Get("X-Checksum") + "," + s.Request.Trailer.Get("X-Wasm-Seen")}
}

func serveWith(f filters.Filter, r *http.Request, up filters.Next) *http.Response {
	s, w := testStream(r)
	f.Serve(s, up)
	return w.Result()
}

// The trailer callbacks run when the stream carries trailers: the plugin
// reads a request trailer and writes both maps, and the body callbacks
// are told end_of_stream=false, as Envoy does when trailers follow.
func TestTrailerCallbacks(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "trailers"))}, nil)
	resp := serveWith(f, requestWithTrailers("hello", http.Header{"X-Checksum": {"abc"}}), trailerUpstream)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	want := map[string]string{
		"X-Wasm-Trailer":         "added",
		"X-Wasm-Request-Trailer": "abc",
		"X-Wasm-Grpc-Status":     "0",
		"Grpc-Status":            "0",
		"X-Upstream-Saw":         "abc,yes",
		"X-Wasm-Body-End":        "request=false response=false",
	}
	for k, v := range want {
		if got := resp.Trailer.Get(k); got != v {
			t.Errorf("trailer %s = %q, want %q (all: %v)", k, got, v, resp.Trailer)
		}
	}
}

// Without trailers the body callbacks see the end of the stream and the
// trailer callbacks never run.
func TestNoTrailersNoTrailerCallbacks(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "trailers"))}, nil)
	resp := serveWith(f, httptest.NewRequest("POST", "/", strings.NewReader("hello")), upstream)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"body":"hello"`) || len(resp.Trailer) != 0 {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Trailer)
	}
}
