package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// listenerRT is what one filter chain serves at a given moment: its HCM
// with the route table and clusters resolved. It is immutable; an update
// stores a new one, so a request sees exactly one config version.
type listenerRT struct {
	hcm      *hcmCfg
	routes   *routeTable
	clusters map[string]*clusterRT
	log      *accessLogger
}

// reqState is the per-request bookkeeping shared by the HCM and the router.
type reqState struct {
	lr           *listenerRT
	req          *http.Request // as received, for the access log
	origURI      string
	start        time.Time
	w            *respWriter
	body         *countingBody
	flags        string
	details      string
	upstreamHost string
	cluster      string
	originalPath string // before prefix/regex rewrite
	vh           *vhost
	rt           *route
	vals         []string // setHeader's storage, from exchange.vals
	stream       *filters.Stream
	upgrade      bool // a websocket upgrade the route allows
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

var emptyTable = &routeTable{exact: map[string]*vhost{}}

// exchange holds one request's bookkeeping in a single allocation rather
// than four (state, response writer, body counter, filter stream).
type exchange struct {
	st   reqState
	w    respWriter
	body countingBody
	s    filters.Stream
	vals [8]string
}

// serve is the HttpConnectionManager: it normalises the request, selects
// the route, runs the filter chain (router last) and logs.
func (lr *listenerRT) serve(w http.ResponseWriter, r *http.Request) {
	h := lr.hcm
	x := &exchange{}
	x.w.ResponseWriter = w
	st := &x.st
	*st = reqState{lr: lr, req: r, origURI: r.URL.RequestURI(), start: time.Now(), w: &x.w, vals: x.vals[:]}
	r, timers := startTimers(r, h.streamIdle, h.requestTimeout)
	defer timers.stop()
	st.w.timers = timers
	x.body = countingBody{ReadCloser: r.Body, timers: timers}
	st.body = &x.body
	if r.ContentLength == 0 {
		timers.requestDone()
	}
	r.Body = st.body
	defer lr.log.log(st, h.logs)

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
	*s = filters.Stream{Request: r, Writer: st.w, Upstreams: upstreams(lr.clusters)}
	st.stream = s
	s.LocalReply = func(code int, body, details string) { st.localReply(s.Writer, code, body, details, nil) }
	s.ClearRouteCache = func() { st.selectRoute(s.Request); st.setPerRoute(s) }
	st.setPerRoute(s)
	st.runFilters(0, s)
}

// runFilters runs the HCM's enabled filters from the i-th on, then the
// router (not among them: see compileHCM).
func (st *reqState) runFilters(i int, s *filters.Stream) {
	h, lr := st.lr.hcm, st.lr
	for ; i < len(h.filters); i++ {
		f := h.filters[i]
		enabled := !f.disabled
		if st.rt != nil {
			if pf, ok := st.rt.mergedPerFilter(st.vh, lr.routes)[f.name]; ok {
				enabled = !pf.disabled
			}
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
	if vh := st.lr.routes.selectVhost(r.Host); vh != nil {
		st.vh = vh
		st.rt = vh.selectRoute(r)
	}
}

func (st *reqState) setPerRoute(s *filters.Stream) {
	if st.rt == nil {
		s.RouteName = ""
		s.SetPerRoute(nil)
		return
	}
	s.RouteName = st.rt.name
	merged := st.rt.mergedPerFilter(st.vh, st.lr.routes)
	if len(merged) == 0 {
		s.SetPerRoute(nil) // most routes: no map to allocate per request
		return
	}
	m := make(map[string]any, len(merged))
	for k, v := range merged {
		if v.config != nil {
			m[k] = v.config
		}
	}
	s.SetPerRoute(m)
}

// mergedPerFilter is the route's typed_per_filter_config layered over its
// virtual host's and route configuration's (precomputed at compile time).
func (rt *route) mergedPerFilter(_ *vhost, _ *routeTable) map[string]perFilter { return rt.merged }

// preprocess applies the HCM's request normalisation and the x-forwarded-*,
// x-envoy-* and x-request-id rules. It returns false when it answered
// itself.
func (h *hcmCfg) preprocess(st *reqState, r *http.Request) bool {
	if r.Method == http.MethodConnect {
		// CONNECT needs an upgrade config Portico does not support:
		// Envoy answers it with its own 403.
		st.refuseUpgrade()
		return false
	}
	if h.stripAnyPort {
		r.Host = stripPort(r.Host)
	}
	if !h.requestHeaders(st, r) {
		return false
	}
	return h.normalisePath(st, r)
}

// normalisePath is Envoy's maybeNormalizePath: the fragment is dropped,
// then path_with_escaped_slashes_action, normalize_path and merge_slashes
// apply to the path as sent (the query is left alone). A path that cannot
// be normalised is refused with 400; UNESCAPE_AND_REDIRECT redirects to
// the result with 307 when it unescaped anything (400 for gRPC, which
// does not follow redirects).
func (h *hcmCfg) normalisePath(st *reqState, r *http.Request) bool {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI() // absolute form, or a request not from a server
	}
	path, query, hasQuery := strings.Cut(uri, "?")
	frag := strings.IndexByte(path, '#')
	if frag < 0 && pathIsCanonical(path, h.mergeSlashes) {
		return true // the common case: nothing to do
	}
	if frag >= 0 {
		path, hasQuery = path[:frag], false
	} else if i := strings.IndexByte(query, '#'); i >= 0 {
		query = query[:i]
	}
	redirect := false
	if h.escapedSlashes != hcmv3.HttpConnectionManager_KEEP_UNCHANGED {
		if p, found := unescapeSlashes(path); found {
			switch h.escapedSlashes {
			case hcmv3.HttpConnectionManager_REJECT_REQUEST:
				st.localReply(st.w, http.StatusBadRequest, "", "path_normalization_failed", nil)
				return false
			case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT:
				redirect = true
			}
			path = p
		}
	}
	if h.normalizePath {
		var ok bool
		if path, ok = canonicalPath(path); !ok {
			st.localReply(st.w, http.StatusBadRequest, "", "path_normalization_failed", nil)
			return false
		}
	}
	if h.mergeSlashes {
		path = mergeSlashes(path)
	}
	if hasQuery {
		path += "?" + query
	}
	if redirect {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			st.localReply(st.w, http.StatusBadRequest, "", "path_normalization_failed", nil)
			return false
		}
		st.localReply(st.w, http.StatusTemporaryRedirect, "", "path_normalization_failed", func(h http.Header) { h.Set("Location", path) })
		return false
	}
	if path == uri {
		return true
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		st.localReply(st.w, http.StatusBadRequest, "", "path_normalization_failed", nil)
		return false
	}
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.URL.ForceQuery = u.Path, u.RawPath, u.RawQuery, u.ForceQuery
	return true
}

// localReply sends a response generated by the proxy, through the HCM's
// local_reply_config, as Envoy's sendLocalReply does. gRPC requests get a
// trailers-only gRPC error instead of an HTTP status.
func (st *reqState) localReply(w http.ResponseWriter, code int, body, details string, extra func(http.Header)) {
	st.details = details
	ri := &replyInfo{code: code, body: body, details: details, flags: st.flags, req: st.req, start: st.start}
	hdr := w.Header()
	var format *bodyFormat
	if lr := st.lr.hcm.localReply; lr != nil {
		format = lr.format
		for _, m := range lr.mappers {
			if !m.filter(ri) {
				continue
			}
			if m.status != 0 {
				ri.code = m.status
			}
			if m.body != nil {
				ri.body = *m.body
			}
			m.headers.apply(hdr, st.req, nil, nil)
			if m.format != nil {
				format = m.format
			}
			break
		}
	}
	out, ct := ri.body, "text/plain"
	if format != nil {
		out, ct = format.render(ri), format.contentType
	}
	if extra != nil {
		extra(hdr)
	}
	st.serverHeader(hdr)
	if strings.HasPrefix(st.req.Header.Get("Content-Type"), "application/grpc") {
		hdr.Set("Content-Type", "application/grpc")
		hdr.Set("Grpc-Status", strconv.Itoa(grpcStatusFor(ri.code)))
		if out != "" {
			hdr.Set("Grpc-Message", url.PathEscape(out))
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if out != "" {
		hdr.Set("Content-Type", ct)
	}
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(ri.code)
	if st.req.Method != http.MethodHead && out != "" {
		_, _ = w.Write([]byte(out))
	}
}

// serverHeader applies server_header_transformation.
func (st *reqState) serverHeader(hdr http.Header) {
	h := st.lr.hcm
	switch {
	case h.passServer:
	case h.appendServer:
		if hdr.Get("Server") == "" {
			st.setHeader(hdr, "Server", h.serverName)
		}
	default:
		st.setHeader(hdr, "Server", h.serverName)
	}
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
