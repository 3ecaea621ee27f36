package lua

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	luav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

const seed = `function envoy_on_response(response_handle)
  response_handle:headers():add("x-lua-custom", "FOO")
end
`

func build(t testing.TB, code string) filters.Filter {
	t.Helper()
	cfg, err := anypb.New(&luav3.Lua{DefaultSourceCode: &corev3.DataSource{
		Specifier: &corev3.DataSource_InlineString{InlineString: code}}})
	if err != nil {
		t.Fatal(err)
	}
	fac, ok := filters.Lookup(cfg.GetTypeUrl())
	if !ok {
		t.Fatal("lua filter not registered")
	}
	f, err := fac.New("envoy.filters.http.lua/test", cfg, filters.BuildContext{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// upstream answers 200 "hello" with the request's x-in header echoed.
func upstream(s *filters.Stream) {
	s.Writer.Header().Set("X-Echo", s.Request.Header.Get("X-In"))
	s.Writer.Header().Set("Content-Type", "text/plain")
	b, _ := io.ReadAll(s.Request.Body)
	s.Writer.WriteHeader(200)
	_, _ = s.Writer.Write([]byte("hello" + string(b)))
}

func serve(f filters.Filter, r *http.Request, perRoute map[string]any) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s := &filters.Stream{Request: r, Writer: w, RouteName: "r"}
	s.SetPerRoute(perRoute)
	s.LocalReply = func(code int, body, details string) {
		w.Header().Set("X-Details", details)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
	s.ClearRouteCache = func() {}
	f.Serve(s, upstream)
	return w
}

func TestSeedAddsResponseHeader(t *testing.T) {
	w := serve(build(t, seed), httptest.NewRequest("GET", "/", nil), nil)
	if w.Code != 200 || w.Header().Get("X-Lua-Custom") != "FOO" || w.Body.String() != "hello" {
		t.Fatalf("%d %v %q", w.Code, w.Header(), w.Body.String())
	}
}

func TestRequestHeadersAndPseudoHeaders(t *testing.T) {
	f := build(t, `function envoy_on_request(h)
  local hs = h:headers()
  hs:add("x-in", hs:get(":method") .. " " .. hs:get(":path") .. " " .. hs:get(":authority"))
  local n = 0
  for k, v in pairs(hs) do n = n + 1 end
  hs:replace("x-count", tostring(n))
end`)
	w := serve(f, httptest.NewRequest("GET", "http://example.com/a?b=1", nil), nil)
	if got := w.Header().Get("X-Echo"); got != "GET /a?b=1 example.com" {
		t.Fatalf("echo %q", got)
	}
}

func TestRespond(t *testing.T) {
	f := build(t, `function envoy_on_request(h)
  if h:headers():get("x-deny") then
    h:respond({[":status"] = "403", ["x-why"] = "denied"}, "nope")
  end
  h:headers():add("x-in", "allowed")
end`)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Deny", "1")
	w := serve(f, r, nil)
	if w.Code != 403 || w.Body.String() != "nope" || w.Header().Get("X-Why") != "denied" {
		t.Fatalf("%d %q %v", w.Code, w.Body.String(), w.Header())
	}
	w = serve(f, httptest.NewRequest("GET", "/", nil), nil)
	if w.Code != 200 || w.Header().Get("X-Echo") != "allowed" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
}

func TestBodies(t *testing.T) {
	f := build(t, `function envoy_on_request(h)
  h:headers():add("x-in", tostring(h:body():length()))
  h:body():setBytes("[" .. h:body():getBytes(0, 3) .. "]")
end
function envoy_on_response(h)
  local n = 0
  for chunk in h:bodyChunks() do n = n + chunk:length() end
  h:headers():add("x-len", tostring(n))
  h:body():setBytes(string.upper(h:body():getBytes(0, h:body():length())))
end`)
	w := serve(f, httptest.NewRequest("POST", "/", strings.NewReader("abcdef")), nil)
	if w.Body.String() != "HELLO[ABC]" || w.Header().Get("X-Echo") != "6" || w.Header().Get("X-Len") != "10" ||
		w.Header().Get("Content-Length") != "10" {
		t.Fatalf("%q %v", w.Body.String(), w.Header())
	}
}

func TestRuntimeErrorIs500(t *testing.T) {
	f := build(t, `function envoy_on_request(h) error("boom") end`)
	if w := serve(f, httptest.NewRequest("GET", "/", nil), nil); w.Code != 500 {
		t.Fatalf("request error: %d", w.Code)
	}
	f = build(t, `function envoy_on_response(h) local x = nil; x.y = 1 end`)
	if w := serve(f, httptest.NewRequest("GET", "/", nil), nil); w.Code != 500 || w.Body.String() != "" {
		t.Fatalf("response error: %d %q", w.Code, w.Body.String())
	}
	f = build(t, `function envoy_on_response(h) h:body() ; os.execute("x") end`)
	if w := serve(f, httptest.NewRequest("GET", "/", nil), nil); w.Code != 500 {
		t.Fatalf("sandbox violation: %d", w.Code)
	}
}

func TestPerRoute(t *testing.T) {
	f := build(t, `function envoy_on_response(h)
  local v = h:filterContext():get("v")
  h:headers():add("x-ctx", tostring(v))
end`)
	fc, _ := structpb.NewStruct(map[string]any{"v": "hello"})
	a, _ := anypb.New(&luav3.LuaPerRoute{FilterContext: fc})
	pr, err := parsePerRoute(a)
	if err != nil {
		t.Fatal(err)
	}
	w := serve(f, httptest.NewRequest("GET", "/", nil), map[string]any{"envoy.filters.http.lua/test": pr})
	if w.Header().Get("X-Ctx") != "hello" {
		t.Fatalf("%v", w.Header())
	}
	a, _ = anypb.New(&luav3.LuaPerRoute{Override: &luav3.LuaPerRoute_Disabled{Disabled: true}})
	pr, _ = parsePerRoute(a)
	w = serve(f, httptest.NewRequest("GET", "/", nil), map[string]any{"envoy.filters.http.lua/test": pr})
	if w.Header().Get("X-Ctx") != "" {
		t.Fatalf("disabled ran: %v", w.Header())
	}
}

func TestDynamicMetadataAcrossPhases(t *testing.T) {
	f := build(t, `function envoy_on_request(h)
  h:streamInfo():dynamicMetadata():set("envoy.filters.http.lua", "k", {a = "b"})
end
function envoy_on_response(h)
  local m = h:streamInfo():dynamicMetadata():get("envoy.filters.http.lua")
  h:headers():add("x-meta", m["k"]["a"])
  h:headers():add("x-proto", h:streamInfo():protocol())
end`)
	w := serve(f, httptest.NewRequest("GET", "/", nil), nil)
	if w.Header().Get("X-Meta") != "b" || w.Header().Get("X-Proto") != "HTTP/1.1" {
		t.Fatalf("%v", w.Header())
	}
}

// Bad configs are rejected (NACK), like Envoy.
func TestBadConfigs(t *testing.T) {
	for _, code := range []string{"function envoy_on_request(h", "local x = nil; x.y = 1", "function f() end"} {
		cfg, _ := anypb.New(&luav3.Lua{DefaultSourceCode: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: code}}})
		fac, _ := filters.Lookup(cfg.GetTypeUrl())
		if _, err := fac.New("x", cfg, filters.BuildContext{}); err == nil {
			t.Errorf("%q accepted", code)
		}
	}
}

// Concurrent requests never share a state: a global written in
// envoy_on_request and read back in the same call is always the request's.
func TestStatesNotShared(t *testing.T) {
	f := build(t, `function envoy_on_request(h)
  current = h:headers():get("x-id")
  for i = 1, 2000 do end
  h:headers():add("x-in", current)
end`)
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := httptest.NewRequest("GET", "/", nil)
			id := strings.Repeat("x", i%7) + string(rune('a'+i%26))
			r.Header.Set("X-Id", id)
			if w := serve(f, r, nil); w.Header().Get("X-Echo") != id {
				errs <- w.Header().Get("X-Echo") + " != " + id
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkSeedFilter(b *testing.B) {
	f := build(b, seed)
	r := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			serve(f, r.Clone(r.Context()), nil)
		}
	})
}

// BenchmarkNoFilter is BenchmarkSeedFilter's baseline: the same request
// and upstream without the filter.
func BenchmarkNoFilter(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			serve(filters.FilterFunc(func(s *filters.Stream, next filters.Next) { next(s) }), r.Clone(r.Context()), nil)
		}
	})
}

type fakeUpstreams struct {
	got   *http.Request
	delay time.Duration
}

func (f *fakeUpstreams) RoundTrip(cluster string, req *http.Request) (*http.Response, error) {
	f.got = req
	time.Sleep(f.delay)
	body, _ := io.ReadAll(req.Body)
	rec := httptest.NewRecorder()
	rec.Header().Set("Foo", "bar-from-"+cluster)
	rec.WriteHeader(201)
	_, _ = rec.WriteString("got:" + string(body))
	return rec.Result(), nil
}

func (f *fakeUpstreams) Dial(context.Context, string) (net.Conn, error) {
	return nil, errors.New("no dial")
}

func TestHTTPCall(t *testing.T) {
	f := build(t, `function envoy_on_request(h)
  local headers, body = h:httpCall("lua_cluster",
    {[":method"] = "POST", [":path"] = "/check", [":authority"] = "lua_cluster", ["x-a"] = "1"},
    "hello", 5000)
  h:headers():add("x-in", headers[":status"] .. " " .. headers["foo"] .. " " .. body)
end`)
	up := &fakeUpstreams{}
	w := httptest.NewRecorder()
	s := &filters.Stream{Request: httptest.NewRequest("GET", "/", nil), Writer: w, Upstreams: up,
		LocalReply: func(code int, body, details string) { w.WriteHeader(code) }, ClearRouteCache: func() {}}
	f.Serve(s, upstream)
	if got := w.Header().Get("X-Echo"); got != "201 bar-from-lua_cluster got:hello" {
		t.Fatalf("x-in %q (code %d)", got, w.Code)
	}
	if up.got.Method != "POST" || up.got.URL.Path != "/check" || up.got.Host != "lua_cluster" || up.got.Header.Get("X-A") != "1" {
		t.Fatalf("upstream request %+v", up.got)
	}
}

// A runaway script stops when its request's context ends (a client that
// went away), and the state it ran on goes back to the pool usable.
func TestRunawayScriptStopsWithRequest(t *testing.T) {
	f := build(t, `function envoy_on_request(h)
  if h:headers():get("x-loop") then
    while true do end
  end
  h:headers():add("x-in", "ok")
end`)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	r.Header.Set("X-Loop", "1")
	start := time.Now()
	if w := serve(f, r, nil); w.Code != 500 {
		t.Fatalf("runaway: %d", w.Code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("runaway script ran %v", d)
	}
	for i := 0; i < 3; i++ {
		if w := serve(f, httptest.NewRequest("GET", "/", nil), nil); w.Header().Get("X-Echo") != "ok" {
			t.Fatalf("after a runaway: %d %v", w.Code, w.Header())
		}
	}
}

func TestRequestBodyLimit(t *testing.T) {
	f := build(t, `function envoy_on_request(h) h:body() end`)
	w := serve(f, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", MaxBody+1))), nil)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d", w.Code)
	}
}

func TestStringFormatLimits(t *testing.T) {
	L := NewState()
	defer L.Close()
	if err := L.DoString(`assert(string.format("%5.2f|%-3s|%%|%02d", 3.14159, "a", 7) == " 3.14|a  |%|07")`); err != nil {
		t.Fatal(err)
	}
	if err := L.DoString(`local s = string.format("%999d", 1)`); err == nil || !strings.Contains(err.Error(), "invalid format") {
		t.Fatalf("wide format: %v", err)
	}
}
