package abi

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func corpusPlugin(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../../wasm/testdata/plugin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testHost is a StreamHost over plain maps, the smallest proxy there is.
type testHost struct {
	mu      sync.Mutex
	maps    map[MapType]*pairsMap
	bodies  map[BufferType]*[]byte
	props   map[string]string
	replies []LocalResponse
}

func newTestHost(reqHeaders [][2]string) *testHost {
	h := &testHost{maps: map[MapType]*pairsMap{}, bodies: map[BufferType]*[]byte{}, props: map[string]string{}}
	h.maps[RequestHeaders] = &pairsMap{pairs: &reqHeaders}
	return h
}

func (h *testHost) HeaderMap(t MapType) HeaderMap {
	if m := h.maps[t]; m != nil {
		return m
	}
	return nil
}
func (h *testHost) Body(t BufferType) *[]byte { return h.bodies[t] }
func (h *testHost) Property(path []string) ([]byte, bool) {
	v, ok := h.props[strings.Join(path, ".")]
	return []byte(v), ok
}
func (h *testHost) SendLocalResponse(r LocalResponse) {
	h.mu.Lock()
	h.replies = append(h.replies, r)
	h.mu.Unlock()
}

func (h *testHost) header(t MapType, name string) string {
	v, _ := h.maps[t].Get(name)
	return v
}

func loadCorpus(t testing.TB, rootID string, pool int) *Plugin {
	t.Helper()
	p, err := Load(context.Background(), corpusPlugin(t), PluginConfig{Name: "wasm-filter", RootID: rootID, VMID: "vm", PoolSize: pool, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// The corpus plugin, as Envoy Gateway's e2e test runs it: x-wasm-custom:
// FOO on responses, content-type replaced, content-length removed, and
// the body's first 12 bytes replaced by "Hello, world".
func TestCorpusPlugin(t *testing.T) {
	p := loadCorpus(t, "my_root_id", 2)
	ctx := context.Background()
	for i := 0; i < 3; i++ { // streams alternate between the two VMs
		h := newTestHost([][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "www.example.com"}})
		s, err := p.NewStream(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if a, err := s.RequestHeaders(ctx, 3, true); err != nil || a != ActionContinue {
			t.Fatalf("request headers: %v %v", a, err)
		}
		resp := [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-length", "20"}}
		h.maps[ResponseHeaders] = &pairsMap{pairs: &resp}
		if a, err := s.ResponseHeaders(ctx, 3, false); err != nil || a != ActionContinue {
			t.Fatalf("response headers: %v %v", a, err)
		}
		if got := h.header(ResponseHeaders, "x-wasm-custom"); got != "FOO" {
			t.Errorf("x-wasm-custom %q (pairs %v)", got, resp)
		}
		if got := h.header(ResponseHeaders, "content-type"); got != "text/plain; charset=utf-8" {
			t.Errorf("content-type %q", got)
		}
		if _, ok := h.maps[ResponseHeaders].Get("content-length"); ok {
			t.Error("content-length not removed")
		}
		body := []byte(`{"path":"/","ok":1}`)
		h.bodies[ResponseBody] = &body
		if a, err := s.ResponseBody(ctx, len(body), true); err != nil || a != ActionContinue {
			t.Fatalf("response body: %v %v", a, err)
		}
		if string(body) != `Hello, world"ok":1}` {
			t.Errorf("body %q", body)
		}
		s.Done(ctx)
	}
}

// Without root id my_root_id the plugin's SDK falls back to no-op
// contexts: the header is never added.
func TestCorpusPluginWrongRootID(t *testing.T) {
	p := loadCorpus(t, "", 1)
	ctx := context.Background()
	h := newTestHost([][2]string{{":path", "/"}})
	s, err := p.NewStream(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	resp := [][2]string{{":status", "200"}}
	h.maps[ResponseHeaders] = &pairsMap{pairs: &resp}
	if _, err := s.ResponseHeaders(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	if got := h.header(ResponseHeaders, "x-wasm-custom"); got != "" {
		t.Errorf("x-wasm-custom %q", got)
	}
}

func TestPairsRoundTrip(t *testing.T) {
	in := [][2]string{{":status", "200"}, {"a", ""}, {"", "b"}, {"x-long", strings.Repeat("v", 300)}}
	out, err := DecodePairs(EncodePairs(in))
	if err != nil || len(out) != len(in) {
		t.Fatal(out, err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("%d: %q != %q", i, in[i], out[i])
		}
	}
}

func FuzzDecodePairs(f *testing.F) {
	f.Add(EncodePairs([][2]string{{"a", "b"}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := DecodePairs(b)
		if err == nil && len(b) > 0 {
			if again := EncodePairs(pairs); len(again) > len(b) {
				t.Fatalf("decoded more than the input held")
			}
		}
	})
}

func TestReplaceBytes(t *testing.T) {
	for _, tc := range []struct {
		in          string
		start, size int
		data, want  string
		st          Status
	}{
		{"0123456789", 0, 3, "ab", "ab3456789", StatusOK},
		{"0123", 0, 12, "Hello, world", "Hello, world", StatusOK},
		{"0123", 0, 0, "x", "x0123", StatusOK},
		{"0123", 4, 0, "x", "0123x", StatusOK},
		{"0123", 2, 1, "x", "0123", StatusBadArgument},
	} {
		b := []byte(tc.in)
		if st := replaceBytes(&b, tc.start, tc.size, []byte(tc.data)); st != tc.st || string(b) != tc.want {
			t.Errorf("%+v: %q %v", tc, b, st)
		}
	}
}
