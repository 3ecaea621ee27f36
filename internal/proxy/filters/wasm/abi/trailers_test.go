package abi

import (
	"context"
	"testing"
)

// The trailer callbacks reach the trailer maps (HttpRequestTrailers = 1,
// HttpResponseTrailers = 3) through the header-map host calls: the
// plugin reads x-checksum from the request trailers, adds one of its own
// there, and writes the response trailers.
func TestGoTrailersPlugin(t *testing.T) {
	p := mustLoadGo(t, "trailers", PluginConfig{})
	ctx := context.Background()
	h := newTestHost([][2]string{{":method", "POST"}, {":path", "/"}})
	s, err := p.NewStream(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Done(ctx)
	if req, resp := s.HasTrailerCallbacks(); !req || !resp {
		t.Fatalf("the Go SDK exports both trailer callbacks: %v %v", req, resp)
	}
	body := []byte("data")
	h.bodies[RequestBody] = &body
	if a, err := s.RequestBody(ctx, len(body), false); err != nil || a != ActionContinue {
		t.Fatal(a, err)
	}
	reqTrailers := [][2]string{{"x-checksum", "abc"}}
	h.maps[RequestTrailers] = &pairsMap{pairs: &reqTrailers}
	if a, err := s.RequestTrailers(ctx, 1); err != nil || a != ActionContinue {
		t.Fatal(a, err)
	}
	if got := h.header(RequestTrailers, "x-wasm-seen"); got != "yes" {
		t.Fatalf("request trailers %v", reqTrailers)
	}
	respTrailers := [][2]string{{"grpc-status", "7"}}
	h.maps[ResponseTrailers] = &pairsMap{pairs: &respTrailers}
	if a, err := s.ResponseTrailers(ctx, 1); err != nil || a != ActionContinue {
		t.Fatal(a, err)
	}
	want := map[string]string{"x-wasm-trailer": "added", "x-wasm-request-trailer": "abc", "x-wasm-grpc-status": "7",
		"x-wasm-body-end": "request=false response=false"}
	for k, v := range want {
		if got := h.header(ResponseTrailers, k); got != v {
			t.Errorf("%s = %q, want %q (%v)", k, got, v, respTrailers)
		}
	}
}
