package wasm

import (
	"encoding/binary"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/abi"
)

// host is the proxy's side of one stream, as the ABI sees it: header maps
// over the Go request and response, the buffered bodies, and Envoy's
// attributes.
type host struct {
	s        *filters.Stream
	start    time.Time
	req      *reqMap
	resp     *respMap
	reqBody  []byte
	respBody []byte
	// respTrailers is set when the response's trailers arrive.
	respTrailers abi.HeaderMap
	reply        *abi.LocalResponse
}

func newHost(s *filters.Stream) *host {
	return &host{s: s, start: time.Now(), req: &reqMap{r: s.Request}}
}

func (h *host) replied() bool { return h.reply != nil }

func (h *host) HeaderMap(t abi.MapType) abi.HeaderMap {
	switch t {
	case abi.RequestHeaders:
		return h.req
	case abi.ResponseHeaders:
		if h.resp != nil && *h.resp.code != 0 {
			return h.resp
		}
	case abi.RequestTrailers:
		if hasTrailers(h.s.Request.Trailer) {
			return &goMap{h: h.s.Request.Trailer}
		}
	case abi.ResponseTrailers:
		return h.respTrailers
	}
	return nil
}

func (h *host) Body(t abi.BufferType) *[]byte {
	switch t {
	case abi.RequestBody:
		return &h.reqBody
	case abi.ResponseBody:
		if h.resp != nil && *h.resp.code != 0 {
			return &h.respBody
		}
	}
	return nil
}

func (h *host) SendLocalResponse(r abi.LocalResponse) {
	if h.reply == nil {
		h.reply = &r
	}
}

// Property answers Envoy's attributes
// (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes):
// strings as bytes, integers as 8-byte little-endian, booleans as one
// byte, header maps in the ABI's map encoding.
func (h *host) Property(path []string) ([]byte, bool) {
	r := h.s.Request
	key := strings.Join(path, ".")
	switch key {
	case "request.path":
		return []byte(r.URL.RequestURI()), true
	case "request.url_path":
		return []byte(r.URL.Path), true
	case "request.host":
		return []byte(r.Host), true
	case "request.scheme":
		return []byte(scheme(r)), true
	case "request.method":
		return []byte(r.Method), true
	case "request.query":
		return []byte(r.URL.RawQuery), true
	case "request.headers":
		return abi.EncodePairs(h.req.Pairs()), true
	case "request.referer":
		return []byte(r.Header.Get("Referer")), true
	case "request.useragent":
		return []byte(r.Header.Get("User-Agent")), true
	case "request.id":
		return []byte(r.Header.Get("X-Request-Id")), true
	case "request.protocol":
		return []byte(r.Proto), true
	case "request.time":
		return int64Bytes(h.start.UnixNano()), true
	case "request.duration":
		return int64Bytes(int64(time.Since(h.start))), true
	case "response.code":
		if h.resp != nil && *h.resp.code != 0 {
			return int64Bytes(int64(*h.resp.code)), true
		}
	case "response.headers":
		if h.resp != nil && *h.resp.code != 0 {
			return abi.EncodePairs(h.resp.Pairs()), true
		}
	case "source.address":
		return []byte(r.RemoteAddr), true
	case "source.port":
		return portOf(r.RemoteAddr)
	case "destination.address":
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			return []byte(a.String()), true
		}
	case "destination.port":
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			return portOf(a.String())
		}
	case "connection.mtls":
		return boolByte(r.TLS != nil && len(r.TLS.PeerCertificates) > 0), true
	case "connection.requested_server_name":
		if r.TLS != nil {
			return []byte(r.TLS.ServerName), true
		}
		return []byte{}, true
	case "route_name", "xds.route_name":
		return []byte(h.s.RouteName), true
	}
	return nil, false
}

func int64Bytes(v int64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(v))
	return b
}

func boolByte(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

func portOf(addr string) ([]byte, bool) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, false
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return nil, false
	}
	return int64Bytes(int64(n)), true
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// reqMap is the request's header map with Envoy's pseudo-headers.
type reqMap struct {
	r       *http.Request
	changed bool
}

func (m *reqMap) Pairs() [][2]string {
	r := m.r
	out := [][2]string{{":authority", r.Host}, {":path", r.URL.RequestURI()}, {":method", r.Method}, {":scheme", scheme(r)}}
	return append(out, headerPairs(r.Header)...)
}

func (m *reqMap) Get(k string) (string, bool) {
	switch k {
	case ":authority", "host":
		return m.r.Host, true
	case ":path":
		return m.r.URL.RequestURI(), true
	case ":method":
		return m.r.Method, true
	case ":scheme":
		return scheme(m.r), true
	}
	v := m.r.Header.Values(k)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (m *reqMap) Add(k, v string) {
	if strings.HasPrefix(k, ":") || k == "host" {
		m.Replace(k, v)
		return
	}
	m.changed = true
	m.r.Header.Add(k, v)
}

func (m *reqMap) Replace(k, v string) {
	m.changed = true
	r := m.r
	switch k {
	case ":authority", "host":
		r.Host = v
	case ":path":
		if u, err := url.ParseRequestURI(v); err == nil {
			r.URL.Path, r.URL.RawPath, r.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		}
	case ":method":
		r.Method = v
	case ":scheme":
	default:
		r.Header.Set(k, v)
	}
}

func (m *reqMap) Remove(k string) {
	if strings.HasPrefix(k, ":") || k == "host" {
		return // Envoy keeps pseudo-headers too
	}
	m.changed = true
	m.r.Header.Del(k)
}

func (m *reqMap) SetPairs(pairs [][2]string) {
	m.changed = true
	for k := range m.r.Header {
		delete(m.r.Header, k)
	}
	for _, p := range pairs {
		m.Add(p[0], p[1])
	}
}

// respMap is the response's header map with :status.
type respMap struct {
	h    http.Header
	code *int
}

func (m *respMap) Pairs() [][2]string {
	return append([][2]string{{":status", strconv.Itoa(*m.code)}}, headerPairs(m.h)...)
}

func (m *respMap) Get(k string) (string, bool) {
	if k == ":status" {
		return strconv.Itoa(*m.code), true
	}
	v := m.h.Values(k)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (m *respMap) Add(k, v string) {
	if k == ":status" {
		m.Replace(k, v)
		return
	}
	m.h.Add(k, v)
}

func (m *respMap) Replace(k, v string) {
	if k == ":status" {
		if c, err := strconv.Atoi(v); err == nil && c >= 200 && c <= 999 {
			*m.code = c
		}
		return
	}
	m.h.Set(k, v)
}

func (m *respMap) Remove(k string) {
	if k != ":status" {
		m.h.Del(k)
	}
}

func (m *respMap) SetPairs(pairs [][2]string) {
	for k := range m.h {
		delete(m.h, k)
	}
	for _, p := range pairs {
		m.Add(p[0], p[1])
	}
}

// goMap adapts a plain Go header map (trailers).
type goMap struct{ h http.Header }

func (m *goMap) Pairs() [][2]string { return headerPairs(m.h) }
func (m *goMap) Get(k string) (string, bool) {
	v := m.h.Values(k)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}
func (m *goMap) Add(k, v string)     { m.h.Add(k, v) }
func (m *goMap) Replace(k, v string) { m.h.Set(k, v) }
func (m *goMap) Remove(k string)     { m.h.Del(k) }
func (m *goMap) SetPairs(pairs [][2]string) {
	for k := range m.h {
		delete(m.h, k)
	}
	for _, p := range pairs {
		m.h.Add(p[0], p[1])
	}
}

func sortedHeaderKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		if !strings.HasPrefix(k, http.TrailerPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
