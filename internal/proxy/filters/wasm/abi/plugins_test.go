package abi

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

func loadGo(t testing.TB, name string, cfg PluginConfig) (*Plugin, error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 1
	}
	if cfg.CompilationCache == nil {
		cfg.CompilationCache = wasmtest.CompilationCache()
	}
	p, err := Load(context.Background(), wasmtest.Build(t, name), cfg)
	if p != nil {
		t.Cleanup(p.Close)
	}
	return p, err
}

func mustLoadGo(t testing.TB, name string, cfg PluginConfig) *Plugin {
	t.Helper()
	p, err := loadGo(t, name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run drives one request through headers and a response through headers.
func run(t *testing.T, p *Plugin, h *testHost) (req, resp Action, err error) {
	t.Helper()
	ctx := context.Background()
	s, err := p.NewStream(ctx, h)
	if err != nil {
		return 0, 0, err
	}
	defer s.Done(ctx)
	if req, err = s.RequestHeaders(ctx, len(h.maps[RequestHeaders].Pairs()), true); err != nil || req != ActionContinue {
		return req, 0, err
	}
	if h.maps[ResponseHeaders] == nil {
		r := [][2]string{{":status", "200"}}
		h.maps[ResponseHeaders] = &pairsMap{pairs: &r}
	}
	resp, err = s.ResponseHeaders(ctx, 1, true)
	return req, resp, err
}

func get(path string) *testHost {
	return newTestHost([][2]string{{":method", "GET"}, {":path", path}, {":authority", "www.example.com"}})
}

func TestGoHeaderPlugin(t *testing.T) {
	p := mustLoadGo(t, "header", PluginConfig{})
	h := get("/")
	if _, _, err := run(t, p, h); err != nil {
		t.Fatal(err)
	}
	if got := h.header(ResponseHeaders, "x-wasm-custom"); got != "FOO" {
		t.Fatalf("x-wasm-custom %q", got)
	}
}

func TestGoConfigPlugin(t *testing.T) {
	p := mustLoadGo(t, "config", PluginConfig{Configuration: []byte(`{"header":"x-from-config","value":"42"}`)})
	h := get("/")
	if _, _, err := run(t, p, h); err != nil {
		t.Fatal(err)
	}
	if h.header(RequestHeaders, "x-from-config") != "42" || h.header(ResponseHeaders, "x-from-config") != "42" {
		t.Fatalf("headers %v %v", h.maps[RequestHeaders].Pairs(), h.maps[ResponseHeaders].Pairs())
	}
	_, err := loadGo(t, "config", PluginConfig{Configuration: []byte(`not json`)})
	if err == nil || !strings.Contains(err.Error(), "proxy_on_configure failed") {
		t.Fatalf("a configuration the plugin rejects must fail the load: %v", err)
	}
}

func TestGoAuthPlugin(t *testing.T) {
	p := mustLoadGo(t, "auth", PluginConfig{Name: "authz", RootID: "r"})
	h := get("/private")
	req, _, err := run(t, p, h)
	if err != nil || req != ActionPause || len(h.replies) != 1 {
		t.Fatalf("%v %v %v", req, err, h.replies)
	}
	r := h.replies[0]
	if r.Status != 403 || string(r.Body) != "denied by wasm" || len(r.Headers) != 1 || r.Headers[0] != [2]string{"x-denied-by", "wasm"} {
		t.Fatalf("reply %+v", r)
	}
	h = newTestHost([][2]string{{":method", "GET"}, {":path", "/p"}, {"authorization", "Bearer letmein"}})
	code := make([]byte, 8)
	binary.LittleEndian.PutUint64(code, 200)
	h.props["request.path"], h.props["request.method"], h.props["request.host"], h.props["response.code"] = "/p", "GET", "h", string(code)
	if _, _, err := run(t, p, h); err != nil || len(h.replies) != 0 {
		t.Fatal(err, h.replies)
	}
	if got := h.header(ResponseHeaders, "x-wasm-props"); got != "path=/p method=GET host=h root=r name=authz code=200" {
		t.Fatalf("props %q", got)
	}
}

func TestGoBodyPlugin(t *testing.T) {
	p := mustLoadGo(t, "body", PluginConfig{})
	ctx := context.Background()
	h := newTestHost([][2]string{{":method", "POST"}, {":path", "/"}, {"content-length", "11"}})
	s, err := p.NewStream(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Done(ctx)
	if a, err := s.RequestHeaders(ctx, 3, false); err != nil || a != ActionPause {
		t.Fatal(a, err)
	}
	body := []byte("a foo")
	h.bodies[RequestBody] = &body
	if a, err := s.RequestBody(ctx, len(body), false); err != nil || a != ActionPause {
		t.Fatalf("first chunk: %v %v", a, err)
	}
	body = append(body, " foo!"...)
	if a, err := s.RequestBody(ctx, len(body), true); err != nil || a != ActionContinue {
		t.Fatalf("last chunk: %v %v", a, err)
	}
	if string(body) != "a bar bar!" || h.header(RequestHeaders, "x-original-length") != "10" {
		t.Fatalf("body %q, headers %v", body, h.maps[RequestHeaders].Pairs())
	}
}

// The call goes to the cluster of the config; its answer resumes the
// request; a failed call gets the plugin's own 503.
func TestGoHTTPCallPlugin(t *testing.T) {
	var asked []CallRequest
	p := mustLoadGo(t, "httpcall", PluginConfig{Configuration: []byte("checker"),
		Call: func(_ context.Context, r CallRequest) (CallResponse, error) {
			asked = append(asked, r)
			if r.Cluster != "checker" {
				return CallResponse{}, errors.New("no such cluster")
			}
			return CallResponse{Headers: [][2]string{{":status", "200"}}, Body: []byte("approved")}, nil
		}})
	h := get("/")
	if _, _, err := run(t, p, h); err != nil {
		t.Fatal(err)
	}
	if h.header(RequestHeaders, "x-check") != "approved" || len(asked) != 1 || asked[0].Timeout != 5000 {
		t.Fatalf("x-check %q, calls %+v", h.header(RequestHeaders, "x-check"), asked)
	}
	p2 := mustLoadGo(t, "httpcall", PluginConfig{Configuration: []byte("elsewhere"),
		Call: func(context.Context, CallRequest) (CallResponse, error) { return CallResponse{}, errors.New("down") }})
	h = get("/")
	req, _, err := run(t, p2, h)
	if err != nil || req != ActionPause || len(h.replies) != 1 || h.replies[0].Status != 503 {
		t.Fatalf("%v %v %+v", req, err, h.replies)
	}
}

// A trap, a loop past the deadline and running out of memory each fail
// the stream and replace the VM; the next stream is served.
func TestGoFaultsReplaceTheVM(t *testing.T) {
	p := mustLoadGo(t, "faults", PluginConfig{CallTimeout: 200 * time.Millisecond, MemoryLimitPages: 512})
	for _, path := range []string{"/trap", "/loop", "/oom"} {
		_, _, err := run(t, p, get(path))
		if err == nil {
			t.Fatalf("%s: no error", path)
		}
		if path == "/loop" && !strings.Contains(err.Error(), "deadline") {
			t.Errorf("%s: %v", path, err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			h := get("/")
			_, _, err := run(t, p, h)
			if err == nil && h.header(ResponseHeaders, "x-faults") == "ok" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: no healthy VM: %v", path, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if p.Failures() != 3 {
		t.Errorf("failures %d, want 3", p.Failures())
	}
}

// Shared data is per vm_id across VMs: the counter the plugin keeps in it
// counts every request whichever VM ran it.
func TestGoSharedData(t *testing.T) {
	p := mustLoadGo(t, "faults", PluginConfig{VMID: "shared-" + t.Name(), PoolSize: 2})
	var last string
	for i := 0; i < 4; i++ {
		h := get("/")
		if _, _, err := run(t, p, h); err != nil {
			t.Fatal(err)
		}
		last = h.header(ResponseHeaders, "x-count")
	}
	if last != "4" {
		t.Fatalf("count %q, want 4", last)
	}
}

// A module the host cannot run is a load error naming why.
func TestLoadErrors(t *testing.T) {
	noABI := []byte("\x00asm\x01\x00\x00\x00")
	if _, err := Load(context.Background(), noABI, PluginConfig{Logger: quietLog}); err == nil || !strings.Contains(err.Error(), "proxy_abi_version") {
		t.Errorf("no ABI: %v", err)
	}
	if _, err := Load(context.Background(), []byte("garbage"), PluginConfig{Logger: quietLog}); err == nil || !strings.Contains(err.Error(), "compiling") {
		t.Errorf("garbage: %v", err)
	}
	if _, err := Load(context.Background(), corpusPlugin(t), PluginConfig{Logger: quietLog, MemoryLimitPages: 16}); err == nil {
		t.Error("a module larger than the memory limit must not load")
	}
}

// The compilation cache on disk makes a second compile in a new runtime
// cheap; the test checks only that it is used and correct.
func TestCompilationCache(t *testing.T) {
	cache, err := wazero.NewCompilationCacheWithDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		p := mustLoadGo(t, "header", PluginConfig{CompilationCache: cache})
		h := get("/")
		if _, _, err := run(t, p, h); err != nil || h.header(ResponseHeaders, "x-wasm-custom") != "FOO" {
			t.Fatal(err)
		}
	}
}
