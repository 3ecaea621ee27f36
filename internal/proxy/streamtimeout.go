package proxy

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Cancel causes for the HCM's per-stream timers.
var (
	errStreamIdle     = errors.New("stream idle timeout")
	errRequestTimeout = errors.New("request timeout")
	// errRouteTimeout is the route's timeout (RouteAction.timeout): the
	// router arms it here rather than deriving a context of its own.
	errRouteTimeout = errors.New("route timeout")
)

// Envoy's stream_idle_timeout default when the HCM does not set one.
const defaultStreamIdle = 5 * time.Minute

// streamTimers implements the HCM's stream_idle_timeout (no bytes in either
// direction) and request_timeout (the whole request must arrive in time).
// They cancel the request context with a cause; the router turns that into
// Envoy's 408 local reply, or a reset once the response has started.
type streamTimers struct {
	idle    *time.Timer
	idleD   time.Duration
	request *time.Timer
	route   *time.Timer
	cancel  context.CancelCauseFunc
}

func startTimers(r *http.Request, idle, request time.Duration) (*http.Request, *streamTimers) {
	if idle <= 0 && request <= 0 {
		return r, nil
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	t := &streamTimers{cancel: cancel, idleD: idle}
	if idle > 0 {
		t.idle = time.AfterFunc(idle, func() { cancel(errStreamIdle) })
	}
	if request > 0 {
		t.request = time.AfterFunc(request, func() { cancel(errRequestTimeout) })
	}
	return r.WithContext(ctx), t
}

// touch records stream activity.
func (t *streamTimers) touch() {
	if t != nil && t.idle != nil {
		t.idle.Reset(t.idleD)
	}
}

// requestDone stops request_timeout once the request body is complete.
func (t *streamTimers) requestDone() {
	if t != nil && t.request != nil {
		t.request.Stop()
	}
}

// armRoute starts the route's timeout on the request's context and
// reports whether it could (there is a context only when a stream timer
// is configured, which Envoy's default stream_idle_timeout makes the
// usual case). A context.WithTimeout per request cost a timer, a context,
// its Done channel and a registration in the parent's children map: about
// a twentieth of the proxy's allocations.
func (t *streamTimers) armRoute(d time.Duration) bool {
	if t == nil {
		return false
	}
	t.route = time.AfterFunc(d, t.routeExpired)
	return true
}

func (t *streamTimers) routeExpired() { t.cancel(errRouteTimeout) }

func (t *streamTimers) stop() {
	if t == nil {
		return
	}
	if t.idle != nil {
		t.idle.Stop()
	}
	if t.route != nil {
		t.route.Stop()
	}
	t.requestDone()
	t.cancel(context.Canceled)
}

// streamTimeoutReply answers a request whose stream timer fired, if one did.
func (st *reqState) streamTimeoutReply(w http.ResponseWriter, r *http.Request) bool {
	switch context.Cause(r.Context()) {
	case errStreamIdle:
		st.flags = "SI"
		st.localReply(w, http.StatusRequestTimeout, "stream timeout", "stream_idle_timeout", nil)
	case errRequestTimeout:
		st.localReply(w, http.StatusRequestTimeout, "request timeout", "request_overall_timeout", nil)
	default:
		return false
	}
	return true
}

// routeTimedOut reports whether the route's timeout ended ctx, the
// router's context: its own when it derived one (own), else the request's
// with errRouteTimeout as the cause.
func routeTimedOut(ctx context.Context, r *http.Request, own bool) bool {
	if own {
		return ctx.Err() != nil && r.Context().Err() == nil
	}
	return context.Cause(r.Context()) == errRouteTimeout
}

// downstreamDone reports whether the request's context ended for another
// reason than the route's timeout: the client went away or a stream timer
// fired.
func downstreamDone(r *http.Request) bool {
	return r.Context().Err() != nil && context.Cause(r.Context()) != errRouteTimeout
}
