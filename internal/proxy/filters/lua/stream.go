package lua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// reqStream is the per-request state both phases share. Stream info and
// dynamic metadata are built on first use: most scripts touch neither, and
// their maps were a measurable share of the filter's cost.
type reqStream struct {
	s          *filters.Stream
	fc         map[string]any
	info       *StreamInfo
	reqHeaders *reqHeaders
	dynamic    map[string]map[string]any
	f          *filter
}

func newReqStream(s *filters.Stream, fc map[string]any) *reqStream {
	return &reqStream{s: s, fc: fc, reqHeaders: &reqHeaders{s: s}}
}

// dynamicMetadata is shared through filters.Stream.Metadata with every
// other filter of the chain.
func (rs *reqStream) dynamicMetadata() map[string]map[string]any {
	if rs.dynamic == nil {
		rs.dynamic = rs.s.DynamicMetadata()
	}
	return rs.dynamic
}

func (rs *reqStream) streamInfo() *StreamInfo {
	if rs.info != nil {
		return rs.info
	}
	r := rs.s.Request
	info := &StreamInfo{
		Protocol:                protocolName(r),
		DownstreamRemoteAddress: r.RemoteAddr,
		DirectRemoteAddress:     r.RemoteAddr,
		RouteName:               rs.s.RouteName,
		TLS:                     r.TLS,
		FilterContext:           rs.fc,
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.DownstreamLocalAddress = a.String()
	}
	if r.TLS != nil {
		info.RequestedServerName = r.TLS.ServerName
	}
	rs.info = info
	return info
}

func protocolName(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "HTTP/2"
	case 3:
		return "HTTP/3"
	}
	if r.ProtoMinor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// reqHeaders is the request's header map with Envoy's pseudo-headers.
type reqHeaders struct {
	s       *filters.Stream
	changed bool
}

func (h *reqHeaders) Get(name string) []string {
	r := h.s.Request
	switch name {
	case ":method":
		return []string{r.Method}
	case ":path":
		return []string{r.URL.RequestURI()}
	case ":authority":
		return []string{r.Host}
	case ":scheme":
		if r.TLS != nil {
			return []string{"https"}
		}
		return []string{"http"}
	case "host":
		return []string{r.Host}
	}
	return r.Header.Values(name)
}

func (h *reqHeaders) Add(name, value string) {
	if strings.HasPrefix(name, ":") || name == "host" {
		h.Set(name, value)
		return
	}
	h.changed = true
	h.s.Request.Header.Add(name, value)
}

func (h *reqHeaders) Set(name, value string) {
	h.changed = true
	r := h.s.Request
	switch name {
	case ":method":
		r.Method = value
	case ":path":
		if u, err := url.ParseRequestURI(value); err == nil {
			r.URL.Path, r.URL.RawPath, r.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		}
	case ":authority", "host":
		r.Host = value
	case ":scheme":
	default:
		r.Header.Set(name, value)
	}
}

func (h *reqHeaders) Remove(name string) {
	if strings.HasPrefix(name, ":") {
		return // Envoy does not let scripts remove pseudo-headers either
	}
	h.changed = true
	h.s.Request.Header.Del(name)
}

func (h *reqHeaders) Each(f func(name, value string)) {
	for _, p := range []string{":authority", ":path", ":method", ":scheme"} {
		f(p, h.Get(p)[0])
	}
	eachHeader(h.s.Request.Header, f)
}

// eachHeader visits a Go header map in sorted order (Go keeps no order),
// with lower-case names as Envoy shows them.
func eachHeader(hd http.Header, f func(name, value string)) {
	keys := make([]string, 0, len(hd))
	for k := range hd {
		if !strings.HasPrefix(k, http.TrailerPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range hd[k] {
			f(strings.ToLower(k), v)
		}
	}
}

// mapHeaders adapts a Go header map (response headers, trailers).
type mapHeaders struct {
	h      http.Header
	prefix string // http.TrailerPrefix for trailers
	status *int   // response :status
}

func (m *mapHeaders) Get(name string) []string {
	if name == ":status" && m.status != nil {
		return []string{strconv.Itoa(*m.status)}
	}
	return m.h.Values(m.prefix + name)
}
func (m *mapHeaders) Add(name, value string) {
	if name == ":status" {
		m.Set(name, value)
		return
	}
	m.h.Add(m.prefix+name, value)
}
func (m *mapHeaders) Set(name, value string) {
	if name == ":status" && m.status != nil {
		if c, err := strconv.Atoi(value); err == nil && c >= 100 && c <= 999 {
			*m.status = c
		}
		return
	}
	m.h.Set(m.prefix+name, value)
}
func (m *mapHeaders) Remove(name string) { m.h.Del(m.prefix + name) }
func (m *mapHeaders) Each(f func(name, value string)) {
	if m.status != nil {
		f(":status", strconv.Itoa(*m.status))
	}
	if m.prefix == "" {
		eachHeader(m.h, f)
		return
	}
	for k, vs := range m.h {
		if n, ok := strings.CutPrefix(k, m.prefix); ok {
			for _, v := range vs {
				f(strings.ToLower(n), v)
			}
		}
	}
}

// common is what both phases share.
type common struct{ rs *reqStream }

func (c common) Info() *StreamInfo                          { return c.rs.streamInfo() }
func (c common) DynamicMetadata() map[string]map[string]any { return c.rs.dynamicMetadata() }
func (c common) ClearRouteCache()                           { c.rs.s.ClearRouteCache() }

func (c common) Log(level LogLevel, msg string) {
	c.rs.f.log.Log(context.Background(), level.Slog(), "lua: "+msg, "route", c.rs.s.RouteName)
}

// HTTPCall sends a request to a cluster through the proxy's upstreams.
func (c common) HTTPCall(cluster string, h http.Header, body string, timeout time.Duration, async bool) (int, http.Header, string, error) {
	ctx := context.Background()
	if !async {
		ctx = c.rs.s.Request.Context()
	}
	cancel := func() {}
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	method, path, host := h.Get(":method"), h.Get(":path"), h.Get(":authority")
	req, err := http.NewRequestWithContext(ctx, method, "http://"+host+path, strings.NewReader(body))
	if err != nil {
		cancel()
		return 0, nil, "", err
	}
	req.Host = host
	for k, vs := range h {
		if !strings.HasPrefix(k, ":") {
			req.Header[http.CanonicalHeaderKey(k)] = vs
		}
	}
	do := func() (int, http.Header, string, error) {
		defer cancel()
		if c.rs.s.Upstreams == nil {
			return 0, nil, "", errors.New("no upstreams")
		}
		resp, err := c.rs.s.Upstreams.RoundTrip(cluster, req)
		if err != nil {
			return 0, nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
		if err != nil {
			return 0, nil, "", err
		}
		if len(b) > MaxBody {
			return 0, nil, "", fmt.Errorf("response body larger than %d bytes", MaxBody)
		}
		return resp.StatusCode, resp.Header, string(b), nil
	}
	if async {
		go func() { _, _, _, _ = do() }()
		return 0, nil, "", nil
	}
	return do()
}

// reqBackend is envoy_on_request's view.
type reqBackend struct {
	common
	rs      *reqStream
	body    []byte
	read    bool
	dirty   bool
	bodyErr error
}

func (b *reqBackend) Response() bool    { return false }
func (b *reqBackend) Headers() Headers  { return b.rs.reqHeaders }
func (b *reqBackend) Trailers() Headers { return nil }

// Body reads the whole request body once (up to MaxBody).
func (b *reqBackend) Body() ([]byte, error) {
	if b.read {
		return b.body, nil
	}
	b.read = true
	r := b.rs.s.Request
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		b.bodyErr = err
		return nil, err
	}
	if len(data) > MaxBody {
		b.bodyErr = fmt.Errorf("request body larger than %d bytes", MaxBody)
		return nil, b.bodyErr
	}
	b.body = data
	// The upstream still gets the body.
	r.Body = io.NopCloser(bytes.NewReader(data))
	if len(data) == 0 {
		return nil, nil
	}
	return data, nil
}

func (b *reqBackend) SetBody(data []byte) { b.body, b.dirty, b.read = data, true, true }

// commitBody hands a replaced body to the upstream.
func (b *reqBackend) commitBody() {
	if !b.dirty {
		return
	}
	r := b.rs.s.Request
	r.Body = io.NopCloser(bytes.NewReader(b.body))
	r.ContentLength = int64(len(b.body))
	r.Header.Set("Content-Length", strconv.Itoa(len(b.body)))
}

// Respond writes the script's answer.
func (b *reqBackend) Respond(status int, h http.Header, body string) {
	w := b.rs.s.Writer
	for k, vs := range h {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if b.rs.s.Request.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// respBackend is envoy_on_response's view.
type respBackend struct {
	common
	w        *respWriter
	body     []byte
	hasBody  bool
	modified bool // setBytes was called
}

func (b *respBackend) Response() bool { return true }
func (b *respBackend) Headers() Headers {
	return &mapHeaders{h: b.w.ResponseWriter.Header(), status: &b.w.code}
}
func (b *respBackend) Trailers() Headers {
	for k := range b.w.ResponseWriter.Header() {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return &mapHeaders{h: b.w.ResponseWriter.Header(), prefix: http.TrailerPrefix}
		}
	}
	return nil
}

// Body is the buffered response body; in streaming mode (the script does
// not name body()) there is none to give.
func (b *respBackend) Body() ([]byte, error) {
	if len(b.body) == 0 {
		return nil, nil
	}
	return b.body, nil
}
func (b *respBackend) SetBody(data []byte)              { b.body, b.modified = data, true }
func (b *respBackend) Respond(int, http.Header, string) {}
