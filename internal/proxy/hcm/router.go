package hcm

import (
	"net/http"
	"strconv"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/route"
)

// Envoy's local reply bodies for upstream failures.
const (
	bodyProtocolError  = "upstream connect error or disconnect/reset before headers. reset reason: protocol error"
	bodyConnectFailure = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	bodyReset          = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
	bodyOverflow       = "upstream connect error or disconnect/reset before headers. reset reason: overflow"
	bodyTimeout        = "upstream request timeout"
	bodyNoHealthy      = "no healthy upstream"
)

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Proxy-Authenticate", "Proxy-Authorization"}

// router is the terminal filter: direct responses, redirects and forwarding.
func (st *reqState) router(s *filters.Stream) {
	rt := st.rt
	w := s.Writer
	if rt == nil {
		st.info.ResponseFlags = "NR"
		st.localReply(w, http.StatusNotFound, "", "route_not_found", nil)
		return
	}
	switch rt.Kind {
	case route.KindDirect:
		st.localReply(w, rt.Direct.Status, rt.Direct.Body, "direct_response", func(h http.Header) { st.responseOps(h, nil) })
	case route.KindRedirect:
		loc := rt.RedirectLocation(s.Request)
		st.localReply(w, rt.Redirect.Code, "", "direct_response", func(h http.Header) {
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
func (st *reqState) requestOps(r *http.Request, wc *route.WeightedCluster) {
	levels, n := st.levels(wc, true)
	for _, o := range levels[:n] {
		o.Apply(r.Header, r, st.dynamicMetadata(), func(v string) { r.Host = v })
	}
}

func (st *reqState) responseOps(h http.Header, wc *route.WeightedCluster) {
	levels, n := st.levels(wc, false)
	for _, o := range levels[:n] {
		o.Apply(h, st.info.Request, st.dynamicMetadata(), nil)
	}
}

// levels returns the header operations in application order. It returns
// an array, not a slice, so that nothing is allocated per request.
func (st *reqState) levels(wc *route.WeightedCluster, req bool) (l [4]route.HeaderOps, n int) {
	pick := func(rq, rs route.HeaderOps) {
		if req {
			l[n] = rq
		} else {
			l[n] = rs
		}
		n++
	}
	if wc != nil {
		pick(wc.RequestHeaders, wc.ResponseHeaders)
	}
	if st.rt != nil {
		pick(st.rt.RequestHeaders, st.rt.ResponseHeaders)
	}
	if st.vh != nil {
		pick(st.vh.RequestHeaders, st.vh.ResponseHeaders)
	}
	t := st.lr.routes
	pick(t.RequestHeaders, t.ResponseHeaders)
	if t.MostSpecificWins {
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			l[i], l[j] = l[j], l[i]
		}
	}
	return l, n
}

// attemptHeader is the response header edit of a local reply that ends
// an attempt: the route's response headers and the attempt count.
func (st *reqState) attemptHeader(n int, wc *route.WeightedCluster) func(http.Header) {
	return func(h http.Header) {
		st.responseOps(h, wc)
		if st.vh.AttemptCountInResponse {
			h.Set("X-Envoy-Attempt-Count", strconv.Itoa(n))
		}
	}
}

// downstreamReset ends a request whose client went away (or half-closed
// before its request was complete) without a response, as Envoy resets
// the stream: the server then sends nothing, where returning would make
// it write an empty 200. The upstream exchange, if any, was interrupted
// by the request's context.
func (st *reqState) downstreamReset() {
	st.info.ResponseFlags = "DC"
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
