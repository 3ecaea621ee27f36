package luavalidate

import (
	"net/http"
	"time"

	plua "github.com/portico-gw/portico/internal/proxy/filters/lua"
)

// mockStream is a plausible GET request and 200 response. Its values are
// ordinary on purpose: the run is about what a script touches, not about
// exercising its branches.
type mockStream struct {
	reqHeaders  *mockHeaders
	respHeaders *mockHeaders
	dynamic     map[string]map[string]any
	info        *plua.StreamInfo
}

func newMockStream(fc map[string]any) *mockStream {
	return &mockStream{
		reqHeaders: &mockHeaders{kv: [][2]string{
			{":method", "GET"}, {":path", "/"}, {":authority", "www.example.com"}, {":scheme", "http"},
			{"user-agent", "portico-lua-validator"}, {"accept", "*/*"},
		}},
		respHeaders: &mockHeaders{kv: [][2]string{{":status", "200"}, {"content-type", "text/plain"}}},
		dynamic:     map[string]map[string]any{},
		info: &plua.StreamInfo{
			Protocol:                "HTTP/1.1",
			DownstreamLocalAddress:  "127.0.0.1:10080",
			DownstreamRemoteAddress: "127.0.0.1:40000",
			DirectRemoteAddress:     "127.0.0.1:40000",
			RouteName:               "mock",
			RouteMetadata:           map[string]any{},
			FilterContext:           fc,
		},
	}
}

func (m *mockStream) phase(response bool) plua.Backend { return &mockPhase{m: m, response: response} }

type mockPhase struct {
	m        *mockStream
	response bool
	body     []byte
}

func (p *mockPhase) Response() bool { return p.response }
func (p *mockPhase) Headers() plua.Headers {
	if p.response {
		return p.m.respHeaders
	}
	return p.m.reqHeaders
}
func (p *mockPhase) Body() ([]byte, error)                      { return p.body, nil }
func (p *mockPhase) SetBody(b []byte)                           { p.body = b }
func (p *mockPhase) Trailers() plua.Headers                     { return nil }
func (p *mockPhase) Respond(int, http.Header, string)           {}
func (p *mockPhase) Info() *plua.StreamInfo                     { return p.m.info }
func (p *mockPhase) DynamicMetadata() map[string]map[string]any { return p.m.dynamic }
func (p *mockPhase) ClearRouteCache()                           {}
func (p *mockPhase) Log(plua.LogLevel, string)                  {}

// HTTPCall answers 200 with an empty body without any network access.
func (p *mockPhase) HTTPCall(string, http.Header, string, time.Duration, bool) (int, http.Header, string, error) {
	return 200, http.Header{}, "", nil
}

type mockHeaders struct{ kv [][2]string }

func (h *mockHeaders) Get(name string) []string {
	var out []string
	for _, e := range h.kv {
		if e[0] == name {
			out = append(out, e[1])
		}
	}
	return out
}
func (h *mockHeaders) Add(name, value string) { h.kv = append(h.kv, [2]string{name, value}) }
func (h *mockHeaders) Set(name, value string) { h.Remove(name); h.Add(name, value) }
func (h *mockHeaders) Remove(name string) {
	out := h.kv[:0]
	for _, e := range h.kv {
		if e[0] != name {
			out = append(out, e)
		}
	}
	h.kv = out
}
func (h *mockHeaders) Each(f func(name, value string)) {
	for _, e := range h.kv {
		f(e[0], e[1])
	}
}
