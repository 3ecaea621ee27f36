package hcm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/h1client"
	"github.com/portico-gw/portico/internal/proxy/route"
)

// maxRetryBuffer is how much request body the router buffers so it can
// replay it on a retry (Envoy's default per_connection_buffer_limit).
const maxRetryBuffer = 1 << 20

// forwarding is one request's trip upstream. Its steps, in order:
// pickCluster, upstreamRequest and bufferForRetries prepare the request;
// then attempts run until one gets a response that is not retried
// (respond) or fails for good (fail). It lives in the request's exchange:
// the steps allocate nothing of their own.
type forwarding struct {
	st *reqState
	r  *http.Request       // the downstream request
	w  http.ResponseWriter // the filters' writer
	a  *route.Action
	wc *route.WeightedCluster // the weighted cluster drawn, if any
	c  *cluster.Cluster
	cs *cluster.Stats
	// out is the upstream request, built once; attempts send a copy when
	// they need their own.
	out       *http.Request
	origHost  string
	body      []byte // the request body, buffered to be replayed
	websocket bool   // a websocket upgrade goes upstream
	h2        bool
	attempts  int  // how many attempts the retry policy allows
	retrySlot bool // a circuit-breaker retry slot is held
	start     time.Time
	override  string // the stream's UpstreamOverrideHost

}

// attempt is one try's context: the per-try timeout and idle timeout.
type attempt struct {
	n         int
	h         *cluster.Host
	ctx       context.Context
	cancelTry context.CancelFunc // per_try_timeout's, or nil
	idle      *idleWatch
	stopIdle  context.CancelFunc
}

// done releases the attempt's timers.
func (t *attempt) done() {
	t.stopIdle()
	if t.cancelTry != nil {
		t.cancelTry()
	}
}

// forward sends the request to the route's cluster and the response
// downstream.
func (st *reqState) forward(s *filters.Stream) {
	f := &st.fw
	*f = forwarding{st: st, r: s.Request, w: s.Writer, a: st.rt.Action, override: s.UpstreamOverrideHost}
	if !f.pickCluster() || !f.upstreamRequest() || !f.bufferForRetries() {
		return
	}
	if len(f.a.Mirrors) > 0 && !f.websocket {
		st.mirror(f.out, f.body, f.a.Mirrors, f.a.Timeout)
	}
	if f.a.Timeout > 0 {
		// It runs from the end of the request (Envoy's router starts it
		// then): a slow upload is not an upstream timeout.
		st.w.timers.armRoute(f.a.Timeout)
	}
	if !f.c.Acquire() {
		st.info.ResponseFlags = "UO"
		st.localReply(f.w, http.StatusServiceUnavailable, bodyOverflow, "upstream_reset_before_response_started{overflow}",
			func(hd http.Header) { st.responseOps(hd, f.wc) })
		return
	}
	defer f.c.Release()
	defer f.releaseRetry()
	f.run()
}

// pickCluster resolves the route's cluster: named, from a header, or
// drawn among weighted clusters.
func (f *forwarding) pickCluster() bool {
	a, st := f.a, f.st
	name := a.Cluster
	switch {
	case a.ClusterHeader != "":
		name = f.r.Header.Get(a.ClusterHeader)
	case len(a.Weighted) > 0:
		f.wc = a.PickWeighted()
		name = f.wc.Name
	}
	st.info.UpstreamCluster = name
	if f.c = st.lr.clusters[name]; f.c == nil {
		st.info.ResponseFlags = "NC"
		st.localReply(f.w, a.NotFoundCode, "", "cluster_not_found", nil)
		return false
	}
	f.cs = f.c.Stats()
	return true
}

// upstreamRequest builds the request as it goes upstream: path rewrite,
// host rewrite, hop-by-hop headers removed, the route's header mutations.
func (f *forwarding) upstreamRequest() bool {
	r, st, a := f.r, f.st, f.a
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
	f.out, f.origHost = out, r.Host
	if !f.rewritePath() {
		return false
	}
	switch {
	case f.wc != nil && f.wc.HostLiteral != "":
		out.Host = f.wc.HostLiteral
	case a.HostLiteral != "":
		out.Host = a.HostLiteral
	case a.HostHeader != "":
		if v := r.Header.Get(a.HostHeader); v != "" {
			out.Host = v
		}
	}
	// A filter may have selected another route since the HCM's check.
	f.websocket = st.upgrade && st.upgradeAllowed("websocket")
	f.h2 = f.c.UsesH2(r.ProtoMajor) && !f.websocket
	f.hopByHop()
	st.requestOps(out, f.wc)
	if a.Timeout > 0 && !st.lr.cfg.suppressEnvoy {
		st.setHeader(out.Header, "X-Envoy-Expected-Rq-Timeout-Ms", a.TimeoutMs)
	}
	return true
}

// rewritePath applies the route's prefix or regex rewrite, keeping the
// original path for x-envoy-original-path and the access log.
func (f *forwarding) rewritePath() bool {
	r, st := f.r, f.st
	orig := r.URL.RequestURI()
	uri := st.rt.RewritePath(orig)
	if uri != orig {
		st.info.OriginalPath = orig
		if !st.lr.cfg.suppressEnvoy {
			f.out.Header.Set("X-Envoy-Original-Path", orig)
		}
	}
	// Without a rewrite the clone's URL already is what parsing the
	// request URI would give (origin-form requests; absolute-form ones
	// carry a scheme and host and are reparsed as before).
	if uri != orig || r.URL.Scheme != "" || r.URL.Host != "" || r.URL.Opaque != "" || r.URL.User != nil || r.URL.Fragment != "" {
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			st.localReply(f.w, http.StatusBadRequest, "", "invalid_path_rewrite", nil)
			return false
		}
		f.out.URL = u
	}
	return true
}

// hopByHop removes the headers that belong to the downstream connection.
func (f *forwarding) hopByHop() {
	out := f.out
	// Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
	if !f.websocket {
		for _, v := range out.Header.Values("Connection") {
			for _, k := range strings.Split(v, ",") {
				out.Header.Del(strings.TrimSpace(k))
			}
		}
	}
	for _, k := range hopHeaders {
		if f.websocket && (k == "Connection" || k == "Upgrade") {
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
}

// bufferForRetries reads a small body so that retries can replay it, and
// settles how many attempts there may be.
func (f *forwarding) bufferForRetries() bool {
	r, rp := f.r, f.a.Retry
	replayable := r.Body == nil || r.ContentLength == 0
	if rp != nil && rp.NumRetries > 0 && r.ContentLength > 0 && r.ContentLength <= maxRetryBuffer {
		var err error
		if f.body, err = io.ReadAll(r.Body); err != nil {
			f.st.requestBodyFailed(f.w)
			return false
		}
		replayable = true
	}
	f.attempts = 1
	if rp != nil && replayable {
		f.attempts += rp.NumRetries
	}
	return true
}

// retryOK takes a retry slot (circuit_breakers max_retries) for the next
// attempt; the slot is held until the request is done.
func (f *forwarding) retryOK() bool {
	if !f.retrySlot {
		f.retrySlot = f.c.AcquireRetry()
	}
	return f.retrySlot
}

func (f *forwarding) releaseRetry() {
	if f.retrySlot {
		f.c.ReleaseRetry()
	}
}

// run makes the attempts.
func (f *forwarding) run() {
	st := f.st
	f.start = time.Now()
	for n := 1; ; n++ {
		h := f.pick(n)
		if h == nil {
			st.info.ResponseFlags = "UH"
			st.localReply(f.w, http.StatusServiceUnavailable, bodyNoHealthy, "no_healthy_upstream",
				func(hd http.Header) { st.responseOps(hd, f.wc) })
			return
		}
		t := attempt{n: n, h: h}
		resp, err := f.send(&t)
		if err != nil {
			h.RequestDone()
			t.done()
			if f.failed(&t, err) {
				continue
			}
			return
		}
		f.c.Report(h, resp.StatusCode)
		f.cs.Response(resp.StatusCode)
		if f.retriable(&t, resp) {
			if f.backOff(&t, resp) {
				f.cs.RqRetry.Inc()
				continue
			}
			f.cs.RqTimeout.Inc()
			st.info.ResponseFlags = "UT"
			st.localReply(f.w, http.StatusGatewayTimeout, bodyTimeout, "upstream_response_timeout", st.attemptHeader(n, f.wc))
			return
		}
		f.respond(&t, resp)
		h.RequestDone()
		t.done()
		return
	}
}

// pick chooses attempt n's host: the override host for the first attempt
// when the cluster has it (a retry goes where balancing says, as the host
// just failed), else the balancer's pick.
func (f *forwarding) pick(n int) *cluster.Host {
	if n == 1 && f.override != "" {
		if h := f.c.PickOverride(f.override); h != nil {
			return h
		}
	}
	return f.c.Pick()
}

// send makes one attempt on host t.h: the request with this attempt's
// context, URL and headers, through the host's transport.
func (f *forwarding) send(t *attempt) (*http.Response, error) {
	st, out, a := f.st, f.out, f.a
	st.info.UpstreamHost = t.h.Addr()
	if a.AutoHostRewrite && t.h.Hostname() != "" {
		out.Host = t.h.Hostname()
	}
	if out.Host != f.origHost && a.AppendXForwardedHost && out.Header.Get("X-Forwarded-Host") != f.origHost {
		out.Header.Add("X-Forwarded-Host", f.origHost)
	}
	ctx := f.r.Context()
	t.ctx = ctx
	if rp := a.Retry; rp != nil && rp.PerTryTimeout > 0 {
		t.ctx, t.cancelTry = context.WithTimeout(ctx, rp.PerTryTimeout)
	}
	t.ctx, t.idle, t.stopIdle = withIdle(t.ctx, a.IdleTimeout)
	// Without retries or an attempt context, out itself is sent:
	// WithContext's copy was an allocation on every request. With
	// retries each attempt gets its own copy, since a failed attempt's
	// transport may still read the one it was given.
	req := out
	if f.attempts > 1 || t.ctx != out.Context() {
		req = out.WithContext(t.ctx)
	}
	if t.n > 1 {
		// A failed attempt's transport may still hold the old map.
		req.Header = out.Header.Clone()
	}
	req.URL = t.h.URL(out.URL)
	if f.body != nil {
		req.Body = io.NopCloser(bytes.NewReader(f.body))
		req.ContentLength = int64(len(f.body))
	} else if f.r.ContentLength == 0 {
		req.Body = nil
	}
	if st.vh.AttemptCountInRequest {
		req.Header.Set("X-Envoy-Attempt-Count", strconv.Itoa(t.n))
	}
	t.h.RequestStarted()
	f.cs.RqTotal.Inc()
	return t.h.Transport(f.h2).RoundTrip(req)
}

// failed handles an attempt that got no response: it reports whether
// another attempt follows, else it has answered (or reset) the stream.
func (f *forwarding) failed(t *attempt, err error) bool {
	st, r := f.st, f.r
	if st.streamTimeoutReply(f.w, r) {
		return false
	}
	if st.body.badFraming.Load() {
		st.requestBodyFailed(f.w)
		return false
	}
	globalTimeout := routeTimedOut(r)
	gone := downstreamDone(r)
	perTry := t.ctx.Err() != nil && !globalTimeout && !gone
	connect := isConnectError(err)
	if !gone {
		code := map[bool]int{true: 504, false: 503}[perTry || globalTimeout]
		f.c.Report(t.h, code)
		f.cs.Response(code)
	}
	f.countFailure(connect, perTry, globalTimeout)
	if isIdle(t.ctx) && !globalTimeout {
		st.info.ResponseFlags = "SI"
		st.localReply(f.w, http.StatusRequestTimeout, "stream timeout", "stream_idle_timeout", st.attemptHeader(t.n, f.wc))
		return false
	}
	if gone {
		st.downstreamReset()
	}
	if !globalTimeout && t.n < f.attempts && f.a.Retry.RetryFailure(connect, perTry) && f.retryOK() {
		if sleepCtx(r.Context(), f.a.Retry.Backoff(t.n)) {
			f.cs.RqRetry.Inc()
			return true
		}
		globalTimeout = true
		f.cs.RqTimeout.Inc()
	}
	f.fail(t, err, globalTimeout || perTry, connect)
	return false
}

// countFailure charges an attempt that got no response to the cluster's
// stats, as Envoy's router does.
func (f *forwarding) countFailure(connect, perTry, globalTimeout bool) {
	switch {
	case connect:
		f.cs.ConnectFail.Inc()
	case perTry:
		f.cs.PerTryTimeout.Inc()
	case globalTimeout:
		f.cs.RqTimeout.Inc()
	}
}

// fail answers an attempt that failed for good, as Envoy's router does.
func (f *forwarding) fail(t *attempt, err error, timedOut, connect bool) {
	st, w, hdr := f.st, f.w, f.st.attemptHeader(t.n, f.wc)
	switch {
	case timedOut:
		st.info.ResponseFlags = "UT"
		st.localReply(w, http.StatusGatewayTimeout, bodyTimeout, "upstream_response_timeout", hdr)
	case errors.Is(err, h1client.ErrHeaderTooLarge) || isNetHeaderTooLarge(err):
		// Envoy's codec error on the upstream response: 502.
		st.info.ResponseFlags = "UPE"
		st.localReply(w, http.StatusBadGateway, bodyProtocolError, "upstream_reset_before_response_started{protocol_error}", hdr)
	case connect:
		st.info.ResponseFlags = "UF"
		st.localReply(w, http.StatusServiceUnavailable, bodyConnectFailure, "upstream_reset_before_response_started{connection_failure}", hdr)
	default:
		st.info.ResponseFlags = "UC"
		st.localReply(w, http.StatusServiceUnavailable, bodyReset, "upstream_reset_before_response_started{connection_termination}", hdr)
	}
	if t.n > 1 {
		st.info.ResponseFlags += ",URX"
	}
}

// retriable reports whether resp's status gets another attempt (a retry
// slot is then held).
func (f *forwarding) retriable(t *attempt, resp *http.Response) bool {
	return t.n < f.attempts && f.a.Retry.RetryStatus(resp.StatusCode, resp.Header.Get("Grpc-Status")) && f.retryOK()
}

// backOff drops a response that is retried and waits the back-off; false
// when the route's timeout (or the client) ended the wait.
func (f *forwarding) backOff(t *attempt, resp *http.Response) bool {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	t.h.RequestDone()
	t.done()
	return sleepCtx(f.r.Context(), f.a.Retry.Backoff(t.n))
}

// respond sends the attempt's response downstream.
func (f *forwarding) respond(t *attempt, resp *http.Response) {
	st := f.st
	st.info.ResponseCodeDetails = "via_upstream"
	if t.n > 1 && t.n == f.attempts && f.a.Retry.RetryStatus(resp.StatusCode, resp.Header.Get("Grpc-Status")) {
		st.info.ResponseFlags = "URX" // retries exhausted; the last response goes out
	}
	if t.idle != nil {
		t.idle.touch()
		resp.Body = idleBody{resp.Body, t.idle}
	}
	st.copyResponse(f.w, resp, f.wc, t.n, f.start, f.websocket)
}

// isNetHeaderTooLarge is net/http's Transport refusing a response head
// over MaxResponseHeaderBytes (it has no error value for it).
func isNetHeaderTooLarge(err error) bool {
	return err != nil && strings.Contains(err.Error(), "server response headers exceeded")
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
