package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func corpus(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../wasm/testdata/plugin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type opts struct {
	rootID, config string
	failOpen       bool
	code           *corev3.AsyncDataSource
}

func inline(b []byte) *corev3.AsyncDataSource {
	return &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Local{Local: &corev3.DataSource{
		Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}}}
}

func remote(uri, sum string) *corev3.AsyncDataSource {
	return &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Remote{Remote: &corev3.RemoteDataSource{
		HttpUri:     &corev3.HttpUri{Uri: uri, HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: "wasm_cluster"}},
		Sha256:      sum,
		RetryPolicy: &corev3.RetryPolicy{NumRetries: wrapperspb.UInt32(0)},
	}}}
}

// clusters is filters.Upstreams over named test servers.
type clusters map[string]string

func (c clusters) RoundTrip(cluster string, req *http.Request) (*http.Response, error) {
	addr, ok := c[cluster]
	if !ok {
		return nil, errors.New("cluster " + cluster + " not found")
	}
	out := req.Clone(req.Context())
	out.URL = &url.URL{Scheme: "http", Host: addr, Path: req.URL.Path, RawQuery: req.URL.RawQuery}
	out.RequestURI = ""
	return http.DefaultTransport.RoundTrip(out)
}

func (c clusters) Dial(ctx context.Context, cluster string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "tcp", c[cluster])
}

func build(t testing.TB, o opts, up filters.Upstreams) filters.Filter {
	t.Helper()
	pc := &wasmv3.PluginConfig{Name: "test", RootId: o.rootID, FailOpen: o.failOpen,
		Configuration: mustAny(t, wrapperspb.String(o.config)),
		Vm:            &wasmv3.PluginConfig_VmConfig{VmConfig: &wasmv3.VmConfig{VmId: t.Name(), Runtime: "envoy.wasm.runtime.v8", Code: o.code}}}
	cfg := mustAny(t, &wasmfilterv3.Wasm{Config: pc})
	fac, ok := filters.Lookup(cfg.GetTypeUrl())
	if !ok {
		t.Fatal("wasm filter not registered")
	}
	bc := filters.BuildContext{Logger: quiet}
	if up != nil {
		bc.Upstreams = func() filters.Upstreams { return up }
	}
	f, err := fac.New("envoy.filters.http.wasm/test", cfg, bc)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// upstream answers a JSON document and echoes x-in, x-check and the body.
func upstream(s *filters.Stream) {
	b, _ := io.ReadAll(s.Request.Body)
	h := s.Writer.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Echo-Check", s.Request.Header.Get("X-Check"))
	h.Set("X-Echo-Length", s.Request.Header.Get("X-Original-Length"))
	out := `{"path":"` + s.Request.URL.Path + `","body":"` + string(b) + `"}`
	h.Set("Content-Length", strconv.Itoa(len(out)))
	s.Writer.WriteHeader(200)
	_, _ = io.WriteString(s.Writer, out)
}

func serve(f filters.Filter, r *http.Request) *httptest.ResponseRecorder {
	s, w := testStream(r)
	f.Serve(s, upstream)
	return w
}

// testStream is a stream of r answered into a recorder; a local reply
// carries its details in x-details.
func testStream(r *http.Request) (*filters.Stream, *httptest.ResponseRecorder) {
	w := httptest.NewRecorder()
	s := &filters.Stream{Request: r, Writer: w, RouteName: "r"}
	s.LocalReply = func(code int, body, details string) {
		w.Header().Set("X-Details", details)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
	s.ClearRouteCache = func() {}
	return s, w
}

func TestCorpusPluginThroughTheFilter(t *testing.T) {
	f := build(t, opts{rootID: "my_root_id", code: inline(corpus(t))}, nil)
	w := serve(f, httptest.NewRequest("GET", "/wasm-http", nil))
	if w.Code != 200 || w.Header().Get("X-Wasm-Custom") != "FOO" || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	if !strings.HasPrefix(w.Body.String(), "Hello, world") || w.Header().Get("Content-Length") != "" {
		t.Fatalf("body %q, content-length %q", w.Body.String(), w.Header().Get("Content-Length"))
	}
}

func TestAuthPluginLocalReply(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "auth"))}, nil)
	w := serve(f, httptest.NewRequest("GET", "/", nil))
	if w.Code != 403 || w.Body.String() != "denied by wasm" || w.Header().Get("X-Denied-By") != "wasm" {
		t.Fatalf("%d %q %v", w.Code, w.Body.String(), w.Header())
	}
	r := httptest.NewRequest("GET", "/in", nil)
	r.Header.Set("Authorization", "Bearer letmein")
	w = serve(f, r)
	if w.Code != 200 || !strings.Contains(w.Header().Get("X-Wasm-Props"), "path=/in method=GET host=example.com") {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
}

func TestBodyPluginRewritesTheRequest(t *testing.T) {
	f := build(t, opts{code: inline(wasmtest.Build(t, "body"))}, nil)
	w := serve(f, httptest.NewRequest("POST", "/", strings.NewReader("foo and foo")))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"body":"bar and bar"`) || w.Header().Get("X-Echo-Length") != "11" {
		t.Fatalf("%d %q %v", w.Code, w.Body.String(), w.Header())
	}
}

func TestHTTPCallPlugin(t *testing.T) {
	checker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "approved:"+r.URL.Path)
	}))
	defer checker.Close()
	f := build(t, opts{config: "checker", code: inline(wasmtest.Build(t, "httpcall"))},
		clusters{"checker": strings.TrimPrefix(checker.URL, "http://")})
	w := serve(f, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || w.Header().Get("X-Echo-Check") != "approved:/check" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	f = build(t, opts{config: "missing", code: inline(wasmtest.Build(t, "httpcall"))}, clusters{})
	if w := serve(f, httptest.NewRequest("GET", "/", nil)); w.Code != 503 || w.Body.String() != "check unavailable" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
}

// A trap or a loop fails that request with 503 wasm_fail_stream, or
// passes it with fail_open; later requests are served by a new VM.
func TestFaultsFailTheStreamOnly(t *testing.T) {
	defer func(d time.Duration) { Options.CallTimeout = d }(Options.CallTimeout)
	Options.CallTimeout = 200 * time.Millisecond
	code := wasmtest.Build(t, "faults")
	for _, failOpen := range []bool{false, true} {
		f := build(t, opts{failOpen: failOpen, code: inline(code)}, nil)
		for _, path := range []string{"/trap", "/loop"} {
			w := serve(f, httptest.NewRequest("GET", path, nil))
			if failOpen && w.Code != 200 {
				t.Errorf("failOpen %s: %d", path, w.Code)
			}
			if !failOpen && (w.Code != 503 || w.Header().Get("X-Details") != "wasm_fail_stream") {
				t.Errorf("%s: %d %v", path, w.Code, w.Header())
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				w := serve(f, httptest.NewRequest("GET", "/", nil))
				if w.Code == 200 && w.Header().Get("X-Faults") == "ok" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %s: %d %v", path, w.Code, w.Header())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// Remote code comes through the cluster and must match its sha256; a
// mismatch is a failed module (503), or pass-through with fail_open.
func TestRemoteCode(t *testing.T) {
	mod := corpus(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(mod) }))
	defer srv.Close()
	up := clusters{"wasm_cluster": strings.TrimPrefix(srv.URL, "http://")}
	sum := sha256.Sum256(mod)
	good := hex.EncodeToString(sum[:])
	f := build(t, opts{rootID: "my_root_id", code: remote(srv.URL+"/m.wasm", good)}, up)
	if w := serve(f, httptest.NewRequest("GET", "/", nil)); w.Header().Get("X-Wasm-Custom") != "FOO" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	bad := strings.Repeat("0", 64)
	f = build(t, opts{rootID: "my_root_id", code: remote(srv.URL+"/m.wasm", bad)}, up)
	if w := serve(f, httptest.NewRequest("GET", "/", nil)); w.Code != 503 || w.Header().Get("X-Details") != "wasm_fail_stream" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	f = build(t, opts{rootID: "my_root_id", failOpen: true, code: remote(srv.URL+"/m.wasm", bad)}, up)
	if w := serve(f, httptest.NewRequest("GET", "/", nil)); w.Code != 200 || w.Header().Get("X-Wasm-Custom") != "" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
}
