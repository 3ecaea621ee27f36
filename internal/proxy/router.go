package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// maxRetryBuffer is how much request body the router buffers so it can
// replay it on a retry (Envoy's default per_connection_buffer_limit).
const maxRetryBuffer = 1 << 20

const (
	bodyProtocolError  = "upstream connect error or disconnect/reset before headers. reset reason: protocol error"
	bodyConnectFailure = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	bodyReset          = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
	bodyTimeout        = "upstream request timeout"
	bodyNoHealthy      = "no healthy upstream"
)

// bufPool recycles body copy buffers; a fresh 32 KiB per response was most
// of the proxy's allocation.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Proxy-Authenticate", "Proxy-Authorization"}

// router is the terminal filter: direct responses, redirects and forwarding.
func (st *reqState) router(s *filters.Stream) {
	rt := st.rt
	w := s.Writer
	if rt == nil {
		st.flags = "NR"
		st.localReply(w, http.StatusNotFound, "", "route_not_found", nil)
		return
	}
	switch rt.kind {
	case kindDirect:
		st.localReply(w, rt.direct.status, rt.direct.body, "direct_response", func(h http.Header) { st.responseOps(h, nil) })
	case kindRedirect:
		loc := rt.redirect.location(s.Request, &rt.m)
		st.localReply(w, rt.redirect.code, "", "direct_response", func(h http.Header) {
			h.Set("Location", loc)
			st.responseOps(h, nil)
		})
	default:
		st.forward(s)
	}
}

// requestOps applies request header mutations. Envoy's default order is
// weighted cluster, route, virtual host, route configuration, so the least
// specific level wins conflicts unless most_specific_header_mutations_wins.
func (st *reqState) requestOps(r *http.Request, wc *weightedCluster) {
	levels, n := st.levels(wc, true)
	for _, o := range levels[:n] {
		o.apply(r.Header, r, st.dynamicMetadata(), func(v string) { r.Host = v })
	}
}

func (st *reqState) responseOps(h http.Header, wc *weightedCluster) {
	levels, n := st.levels(wc, false)
	for _, o := range levels[:n] {
		o.apply(h, st.req, st.dynamicMetadata(), nil)
	}
}

// levels returns the header operations in application order. It returns
// an array, not a slice, so that nothing is allocated per request.
func (st *reqState) levels(wc *weightedCluster, req bool) (l [4]headerOps, n int) {
	pick := func(rq, rs headerOps) {
		if req {
			l[n] = rq
		} else {
			l[n] = rs
		}
		n++
	}
	if wc != nil {
		pick(wc.req, wc.resp)
	}
	if st.rt != nil {
		pick(st.rt.req, st.rt.resp)
	}
	if st.vh != nil {
		pick(st.vh.req, st.vh.resp)
	}
	t := st.lr.routes
	pick(t.req, t.resp)
	if t.mostSpecific {
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			l[i], l[j] = l[j], l[i]
		}
	}
	return l, n
}

func (st *reqState) forward(s *filters.Stream) {
	r, w, a := s.Request, s.Writer, st.rt.action
	name := a.cluster
	var wc *weightedCluster
	switch {
	case a.clusterHeader != "":
		name = r.Header.Get(a.clusterHeader)
	case len(a.weighted) > 0:
		x := rand.Uint64N(a.totalWeight)
		for i := range a.weighted {
			if x < a.weighted[i].weight {
				wc = &a.weighted[i]
				break
			}
			x -= a.weighted[i].weight
		}
		name = wc.name
	}
	st.cluster = name
	c := st.lr.clusters[name]
	if c == nil {
		st.flags = "NC"
		st.localReply(w, a.notFoundCode, "", "cluster_not_found", nil)
		return
	}

	// Build the upstream request once; attempts clone it. Unlike
	// Request.Clone the URL is shared: it is only ever replaced, never
	// changed in place, and its copy was an allocation per request. The
	// header map is shared too: like Envoy's router, which finalizes the
	// downstream request's own headers, what the router adds and removes
	// is what the access log and local replies see. Its copy was 4% of
	// the proxy's CPU on bench/proxy.sh.
	out := new(http.Request)
	*out = *r
	out.Trailer = r.Trailer.Clone()
	out.TransferEncoding = slices.Clone(r.TransferEncoding)
	out.RequestURI = ""
	// Connection is hop-by-hop: a downstream that closes its connection
	// (Connection: close, HTTP/1.0) does not close the upstream one, as
	// with Envoy; r.Close would have made the transport send
	// Connection: close and drop a pooled connection per request.
	out.Close = false
	uri := rewritePath(r.URL.RequestURI(), &st.rt.m, a.prefixRewrite, a.hasPrefixRW, a.regexRewrite, a.regexSubst)
	suppress := st.lr.hcm.suppressEnvoy
	if uri != r.URL.RequestURI() {
		st.originalPath = r.URL.RequestURI()
	}
	if uri != r.URL.RequestURI() && !suppress {
		out.Header.Set("X-Envoy-Original-Path", r.URL.RequestURI())
	}
	var err error
	// Without a rewrite the clone's URL already is what parsing the
	// request URI would give (origin-form requests; absolute-form ones
	// carry a scheme and host and are reparsed as before).
	if uri != r.URL.RequestURI() || r.URL.Scheme != "" || r.URL.Host != "" || r.URL.Opaque != "" || r.URL.User != nil || r.URL.Fragment != "" {
		u, perr := url.ParseRequestURI(uri)
		if perr != nil {
			st.localReply(w, http.StatusBadRequest, "", "invalid_path_rewrite", nil)
			return
		}
		out.URL = u
	}
	origHost := r.Host
	switch {
	case wc != nil && wc.hostLiteral != "":
		out.Host = wc.hostLiteral
	case a.hostLiteral != "":
		out.Host = a.hostLiteral
	case a.hostHeader != "":
		if v := r.Header.Get(a.hostHeader); v != "" {
			out.Host = v
		}
	}
	// A filter may have selected another route since the HCM's check.
	websocket := st.upgrade && st.upgradeAllowed("websocket")
	// Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
	if !websocket {
		for _, v := range out.Header.Values("Connection") {
			for _, k := range strings.Split(v, ",") {
				out.Header.Del(strings.TrimSpace(k))
			}
		}
	}
	for _, k := range hopHeaders {
		if websocket && (k == "Connection" || k == "Upgrade") {
			continue
		}
		delete(out.Header, k) // canonical already: Del would canonicalise again
	}
	// The downstream server answers Expect: 100-continue itself (on the
	// first body read), as Envoy's HCM does: the upstream must not wait
	// to send a second 100 or hold the body back.
	delete(out.Header, "Expect")
	if te := out.Header.Get("Te"); te != "" && !strings.Contains(te, "trailers") {
		out.Header.Del("Te")
	}
	st.requestOps(out, wc)
	if a.timeout > 0 && !suppress {
		st.setHeader(out.Header, "X-Envoy-Expected-Rq-Timeout-Ms", a.timeoutMs)
	}

	// Buffer a small body so that retries can replay it.
	rp := a.retry
	var body []byte
	replayable := r.Body == nil || r.ContentLength == 0
	if rp != nil && rp.numRetries > 0 && r.ContentLength > 0 && r.ContentLength <= maxRetryBuffer {
		if body, err = io.ReadAll(r.Body); err != nil {
			st.requestBodyFailed(w)
			return
		}
		replayable = true
	}
	if len(a.mirrors) > 0 && !websocket {
		st.mirror(out, body, a.mirrors, a.timeout)
	}

	ctx := r.Context()
	if a.timeout > 0 {
		// It runs from the end of the request (Envoy's router starts it
		// then): a slow upload is not an upstream timeout.
		st.w.timers.armRoute(a.timeout)
	}
	maxAttempts := 1
	if rp != nil && replayable {
		maxAttempts += rp.numRetries
	}
	h2 := c.cfg.proto == protoH2 || (c.cfg.proto == protoDownstream && r.ProtoMajor == 2)
	if websocket {
		h2 = false
	}
	if !c.acquire() {
		st.flags = "UO"
		st.localReply(w, http.StatusServiceUnavailable, bodyOverflow, "upstream_reset_before_response_started{overflow}", func(hd http.Header) { st.responseOps(hd, wc) })
		return
	}
	defer c.release()
	// retryOK takes a retry slot (circuit_breakers max_retries) for the
	// next attempt; the slot is held until the attempt is done.
	retrySlot := false
	defer func() {
		if retrySlot {
			c.releaseRetry()
		}
	}()
	retryOK := func() bool {
		if retrySlot {
			return true
		}
		retrySlot = c.acquireRetry()
		return retrySlot
	}
	upstreamStart := time.Now()
	for attempt := 1; ; attempt++ {
		h := c.pick()
		if h == nil {
			st.flags = "UH"
			st.localReply(w, http.StatusServiceUnavailable, bodyNoHealthy, "no_healthy_upstream", func(hd http.Header) { st.responseOps(hd, wc) })
			return
		}
		st.upstreamHost = h.addr
		if a.autoHost && h.hostname != "" {
			out.Host = h.hostname
		}
		if out.Host != origHost && a.appendXFH && out.Header.Get("X-Forwarded-Host") != origHost {
			out.Header.Add("X-Forwarded-Host", origHost)
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if rp != nil && rp.perTry > 0 {
			actx, cancel = context.WithTimeout(ctx, rp.perTry)
		}
		actx, idle, stopIdle := withIdle(actx, a.idleTimeout)
		cancelTry := cancel
		cancel = func() { stopIdle(); cancelTry() }
		// Without retries or an attempt context, out itself is sent:
		// WithContext's copy was an allocation on every request. With
		// retries each attempt gets its own copy, since a failed attempt's
		// transport may still read the one it was given.
		req := out
		if maxAttempts > 1 || actx != out.Context() {
			req = out.WithContext(actx)
		}
		if attempt > 1 {
			// A failed attempt's transport may still hold the old map.
			req.Header = out.Header.Clone()
		}
		req.URL = cloneURL(out.URL, h, h.tls != nil)
		if body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
		} else if r.ContentLength == 0 {
			req.Body = nil
		}
		if st.vh.attemptCountReq {
			req.Header.Set("X-Envoy-Attempt-Count", strconv.Itoa(attempt))
		}
		h.active.Add(1)
		resp, err := h.transport(h2).RoundTrip(req)
		if err != nil {
			h.active.Add(-1)
			cancel()
			if st.streamTimeoutReply(w, r) {
				return
			}
			if st.body.badFraming.Load() {
				st.requestBodyFailed(w)
				return
			}
			globalTimeout := routeTimedOut(r)
			gone := downstreamDone(r)
			perTry := actx.Err() != nil && !globalTimeout && !gone
			connect := isConnectError(err)
			if !gone {
				c.report(h, map[bool]int{true: 504, false: 503}[perTry || globalTimeout])
			}
			if isIdle(actx) && !globalTimeout {
				st.flags = "SI"
				st.localReply(w, http.StatusRequestTimeout, "stream timeout", "stream_idle_timeout", st.attemptHeader(attempt, wc))
				return
			}
			if gone {
				st.downstreamReset()
			}
			if !globalTimeout && attempt < maxAttempts && rp.retryFailure(connect, perTry) && retryOK() {
				if !sleepCtx(ctx, rp.backoff(attempt)) {
					globalTimeout = true
				} else {
					continue
				}
			}
			switch {
			case globalTimeout || perTry:
				st.flags = "UT"
				st.localReply(w, http.StatusGatewayTimeout, bodyTimeout, "upstream_response_timeout", st.attemptHeader(attempt, wc))
			case errors.Is(err, errHeaderTooLarge) || isNetHeaderTooLarge(err):
				// Envoy's codec error on the upstream response: 502.
				st.flags = "UPE"
				st.localReply(w, http.StatusBadGateway, bodyProtocolError, "upstream_reset_before_response_started{protocol_error}", st.attemptHeader(attempt, wc))
			case connect:
				st.flags = "UF"
				st.localReply(w, http.StatusServiceUnavailable, bodyConnectFailure, "upstream_reset_before_response_started{connection_failure}", st.attemptHeader(attempt, wc))
			default:
				st.flags = "UC"
				st.localReply(w, http.StatusServiceUnavailable, bodyReset, "upstream_reset_before_response_started{connection_termination}", st.attemptHeader(attempt, wc))
			}
			if attempt > 1 {
				st.flags += ",URX"
			}
			return
		}
		c.report(h, resp.StatusCode)
		if attempt < maxAttempts && rp.retryStatus(resp.StatusCode, resp.Header.Get("Grpc-Status")) && retryOK() {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			h.active.Add(-1)
			cancel()
			if sleepCtx(ctx, rp.backoff(attempt)) {
				continue
			}
			st.flags = "UT"
			st.localReply(w, http.StatusGatewayTimeout, bodyTimeout, "upstream_response_timeout", st.attemptHeader(attempt, wc))
			return
		}
		st.details = "via_upstream"
		if attempt > 1 && attempt == maxAttempts && rp.retryStatus(resp.StatusCode, resp.Header.Get("Grpc-Status")) {
			st.flags = "URX" // retries exhausted; the last response goes out
		}
		if idle != nil {
			idle.touch()
			resp.Body = idleBody{resp.Body, idle}
		}
		st.copyResponse(w, resp, wc, attempt, upstreamStart, websocket)
		h.active.Add(-1)
		cancel()
		return
	}
}

// downstreamReset ends a request whose client went away (or half-closed
// before its request was complete) without a response, as Envoy resets
// the stream: the server then sends nothing, where returning would make
// it write an empty 200. The upstream exchange, if any, was interrupted
// by the request's context.
func (st *reqState) downstreamReset() {
	st.flags = "DC"
	panic(http.ErrAbortHandler)
}

// requestBodyFailed answers a request whose body could not be read: a
// framing error (a malformed chunk) is Envoy's codec error, 400, and the
// connection closes; a body cut short is the client going away.
func (st *reqState) requestBodyFailed(w http.ResponseWriter) {
	if st.body.badFraming.Load() {
		st.localReply(w, http.StatusBadRequest, "Bad Request", "http1.codec_error", func(h http.Header) { h.Set("Connection", "close") })
		return
	}
	st.downstreamReset()
}

// isNetHeaderTooLarge is net/http's Transport refusing a response head
// over MaxResponseHeaderBytes (it has no error value for it).
func isNetHeaderTooLarge(err error) bool {
	return err != nil && strings.Contains(err.Error(), "server response headers exceeded")
}

func (st *reqState) attemptHeader(n int, wc *weightedCluster) func(http.Header) {
	return func(h http.Header) {
		st.responseOps(h, wc)
		if st.vh.attemptCountResp {
			h.Set("X-Envoy-Attempt-Count", strconv.Itoa(n))
		}
	}
}

func cloneURL(u *url.URL, h *host, tls bool) *url.URL {
	c := *u
	c.Scheme = "http"
	if tls {
		c.Scheme = "https"
	}
	c.Host = h.addr
	if h.network == "unix" {
		c.Host = "localhost"
	}
	return &c
}

func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// copyResponse streams the upstream response downstream, flushing as it
// goes when the length is unknown (gRPC, server-sent events), and copies
// trailers.
func (st *reqState) copyResponse(w http.ResponseWriter, resp *http.Response, wc *weightedCluster, attempt int, start time.Time, websocket bool) {
	defer resp.Body.Close()
	hdr := w.Header()
	for k, vs := range resp.Header {
		hdr[k] = vs
	}
	if !websocket || resp.StatusCode != http.StatusSwitchingProtocols {
		for _, k := range hopHeaders {
			delete(hdr, k)
		}
	}
	st.responseOps(hdr, wc)
	if st.vh.attemptCountResp {
		hdr.Set("X-Envoy-Attempt-Count", strconv.Itoa(attempt))
	}
	if !st.lr.hcm.suppressEnvoy {
		st.setHeader(hdr, "X-Envoy-Upstream-Service-Time", strconv.FormatInt(time.Since(start).Milliseconds(), 10))
	}
	st.serverHeader(hdr)
	if _, ok := hdr["Content-Type"]; !ok {
		// Envoy passes a response without a Content-Type through as it
		// is; net/http, which serves TLS and HTTP/2 downstreams, would
		// sniff one unless the key is present with no value.
		hdr["Content-Type"] = nil
	}
	if websocket && resp.StatusCode == http.StatusSwitchingProtocols {
		st.tunnel(w, resp)
		return
	}
	w.WriteHeader(resp.StatusCode)
	stream := resp.ContentLength < 0
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				st.flags = "DC"
				return
			}
			if stream {
				_ = http.NewResponseController(w).Flush()
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// The upstream reset mid-body: Envoy resets the downstream
			// stream too, which net/http does when the handler panics
			// with ErrAbortHandler.
			st.flags = "UPE"
			panic(http.ErrAbortHandler)
		}
	}
	for k, vs := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
}
