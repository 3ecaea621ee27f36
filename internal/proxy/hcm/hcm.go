// Package hcm is the built-in proxy's HttpConnectionManager: for each
// downstream request it normalises the request (path, x-forwarded-*,
// x-envoy-* and x-request-id), selects the route, runs the HTTP filter
// chain (package filters' contract), then the router: direct responses,
// redirects, and forwarding to a cluster with retries, mirrors, timeouts
// and websocket upgrades. Local replies go through local_reply_config. It
// keeps what it learns of the stream in a streaminfo.StreamInfo, which
// filters and the access log read; the access log line is written when
// the stream ends.
//
// Everything a request needs lives in one allocation (exchange): the
// request path allocates about eleven objects in all, and this package
// keeps it that way (see forward's steps and streamTimers).
package hcm

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/route"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// Runtime is what one filter chain serves at a given moment: its HCM
// with the route table and clusters resolved. It is immutable; an update
// makes a new one, so a request sees exactly one config version.
type Runtime struct {
	cfg      *Config
	routes   *route.Table
	clusters cluster.Set
	log      *accesslog.Logger
}

// NewRuntime links an HCM config to the route table it serves (nil: an
// empty table, every request 404), the clusters and the access logger.
func NewRuntime(cfg *Config, routes *route.Table, clusters cluster.Set, log *accesslog.Logger) *Runtime {
	if routes == nil {
		routes = route.Empty
	}
	return &Runtime{cfg: cfg, routes: routes, clusters: clusters, log: log}
}

// Config is the runtime's HCM config.
func (lr *Runtime) Config() *Config { return lr.cfg }

// reqState is the per-request bookkeeping shared by the HCM and the
// router; info is what they learn of the stream, for filters and logs.
type reqState struct {
	lr      *Runtime
	info    streaminfo.StreamInfo
	w       *respWriter
	body    *countingBody
	vh      *route.VirtualHost
	rt      *route.Route
	vals    []string // setHeader's storage, from exchange.vals
	stream  *filters.Stream
	upgrade bool // a websocket upgrade the route allows
	fw      forwarding
}

// dynamicMetadata is the request's dynamic metadata (nil when no filter
// set any), for %DYNAMIC_METADATA()% header values.
func (st *reqState) dynamicMetadata() map[string]map[string]any {
	if st.stream == nil || st.stream.Metadata == nil {
		return nil
	}
	dm, _ := st.stream.Metadata[filters.DynamicMetadataKey].(map[string]map[string]any)
	return dm
}

// exchange holds one request's bookkeeping in a single allocation rather
// than four (state, response writer, body counter, filter stream).
type exchange struct {
	st   reqState
	w    respWriter
	body countingBody
	s    filters.Stream
	vals [8]string
}

// ServeHTTP serves one downstream request. The codec settings come first:
// codec_type HTTP1 or HTTP2 accepts only that protocol (Envoy treats the
// other as a protocol error and closes the connection), and the header
// count bound applies to requests net/http parsed (h1srv counts plaintext
// HTTP/1 heads as they arrive; net/http bounds only their bytes).
func (lr *Runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := lr.cfg
	if (h.codec == codecH1 && r.ProtoMajor == 2) || (h.codec == codecH2 && r.ProtoMajor != 2) {
		panic(http.ErrAbortHandler)
	}
	if (r.TLS != nil || r.ProtoMajor == 2) && tooManyHeaders(r.Header, h.maxHeaders) {
		http.Error(w, "Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	lr.serve(w, r)
}

func tooManyHeaders(h http.Header, max int) bool {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n > max
}

// serve is the HttpConnectionManager: it normalises the request, selects
// the route, runs the filter chain (router last) and logs.
func (lr *Runtime) serve(w http.ResponseWriter, r *http.Request) {
	h := lr.cfg
	x := &exchange{}
	st := &x.st
	st.lr, st.w, st.vals = lr, &x.w, x.vals[:]
	st.info.Request, st.info.Start, st.info.ResponseHeader = r, time.Now(), w.Header()
	x.w = respWriter{ResponseWriter: w, info: &st.info}
	r, timers := startTimers(wallClock{}, r, h.streamIdle, h.requestTimeout)
	defer timers.stop()
	st.w.timers = timers
	x.body = countingBody{ReadCloser: r.Body, info: &st.info, timers: timers}
	st.body = &x.body
	if r.ContentLength == 0 {
		timers.requestDone()
	}
	r.Body = st.body
	defer st.finish(r)

	if !h.preprocess(st, r) {
		return
	}
	st.selectRoute(r)
	if up := upgradeRequested(r); up != "" && st.rt != nil {
		if !st.upgradeAllowed(up) {
			st.refuseUpgrade()
			return
		}
		st.upgrade = true
	}
	s := &x.s
	*s = filters.Stream{Request: r, Writer: st.w, Upstreams: lr.clusters, Info: &st.info}
	st.stream = s
	s.LocalReply = func(code int, body, details string) { st.localReply(s.Writer, code, body, details, nil) }
	s.ClearRouteCache = func() { st.selectRoute(s.Request); st.setRoute(s) }
	st.setRoute(s)
	st.runFilters(0, s)
}

// runFilters runs the HCM's enabled filters from the i-th on, then the
// router (not among them: see Config.compileFilters).
func (st *reqState) runFilters(i int, s *filters.Stream) {
	h := st.lr.cfg
	for ; i < len(h.filters); i++ {
		f := h.filters[i]
		enabled := !f.disabled
		if st.rt != nil {
			enabled = st.rt.FilterEnabled(f.name, enabled)
		}
		if enabled {
			next := i + 1
			f.f.Serve(s, func(s *filters.Stream) { st.runFilters(next, s) })
			return
		}
	}
	st.router(s)
}

func (st *reqState) selectRoute(r *http.Request) {
	st.vh, st.rt = nil, nil
	if vh := st.lr.routes.SelectVirtualHost(r.Host); vh != nil {
		st.vh = vh
		st.rt = vh.SelectRoute(r)
	}
	st.info.RouteName = ""
	if st.rt != nil {
		st.info.RouteName = st.rt.Name
	}
}

// setRoute tells the filters' stream about the selected route: its name,
// per-filter configs and metadata (precomputed: nothing is allocated).
func (st *reqState) setRoute(s *filters.Stream) {
	if st.rt == nil {
		s.RouteName = ""
		s.SetPerRoute(nil)
		s.SetRouteMetadata(nil)
		return
	}
	s.RouteName = st.rt.Name
	s.SetPerRoute(st.rt.FilterConfigs())
	s.SetRouteMetadata(st.rt.Metadata)
}

// setHeader is h.Set(key, v) for a canonical key, with the value's slice
// taken from the request's own storage: the few headers the proxy sets on
// every request (x-request-id, x-forwarded-*, server, ...) were an
// allocation each.
func (st *reqState) setHeader(h http.Header, key, v string) {
	if len(st.vals) == 0 {
		h[key] = []string{v}
		return
	}
	s := st.vals[:1:1]
	st.vals = st.vals[1:]
	s[0] = v
	h[key] = s
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:16])
	return string(out[:])
}
