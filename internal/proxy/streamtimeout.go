package proxy

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
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
// direction) and request_timeout (the whole request must arrive in time),
// and the route's timeout. They cancel the request context with a cause;
// the router turns that into Envoy's 408 local reply, or a reset once the
// response has started.
//
// One timer serves all three deadlines and is armed for the earliest; when
// it fires it cancels for whichever deadline has passed, or re-arms for the
// next. Activity only records a time: resetting a timer on every read and
// write, and a timer and closure per deadline per request, were a fifth of
// the proxy's allocations on bench/proxy.sh. They are not pooled: the
// upstream body writer may still read the request body, and so touch the
// timers, after the stream ended.
type streamTimers struct {
	timer *time.Timer // runs fire
	base  time.Time   // the stream's start: deadlines are offsets from it
	idleD time.Duration
	last  atomic.Int64 // offset of the last activity

	mu        sync.Mutex
	cc        causeCanceler           // the request's context, when it is one
	cancel    context.CancelCauseFunc // else the timers' own context's
	requestAt time.Duration           // 0: none, or the request is complete
	routeAt   time.Duration           // 0: none (or not started)
	armedAt   time.Duration           // when the timer is due; 0: not armed
	done      bool

	// The route's timeout waits for the request to be complete (armRoute
	// may come first, or the body's end first, on another goroutine).
	complete     atomic.Bool
	pendingRoute atomic.Int64 // the route's timeout once armRoute ran
}

// causeCanceler is a request context its handler may cancel with a cause
// (Portico's HTTP/1 server's). The timers then cancel it directly rather
// than derive a context of their own, which cost a context, a registration
// with the parent and a copy of the request, per request.
type causeCanceler interface {
	context.Context
	CancelCause(cause error)
	Cause() error
}

func startTimers(r *http.Request, idle, request time.Duration) (*http.Request, *streamTimers) {
	t := &streamTimers{}
	if cc, ok := r.Context().(causeCanceler); ok {
		t.cc = cc
	} else {
		var ctx context.Context
		ctx, t.cancel = context.WithCancelCause(r.Context())
		r = r.WithContext(ctx)
	}
	t.base, t.idleD, t.requestAt = time.Now(), idle, request
	t.mu.Lock()
	t.armLocked()
	t.mu.Unlock()
	return r, t
}

// cause is context.Cause for request contexts, causeCanceler's included.
func cause(ctx context.Context) error {
	if cc, ok := ctx.(causeCanceler); ok {
		return cc.Cause()
	}
	return context.Cause(ctx)
}

// next is the earliest pending deadline, 0 when there is none.
func (t *streamTimers) next() time.Duration {
	var d time.Duration
	for _, at := range [...]time.Duration{t.requestAt, t.routeAt} {
		if at > 0 && (d == 0 || at < d) {
			d = at
		}
	}
	if t.idleD > 0 {
		if at := time.Duration(t.last.Load()) + t.idleD; d == 0 || at < d {
			d = at
		}
	}
	return d
}

// armLocked schedules the timer for the earliest deadline unless it is
// already due no later than that.
func (t *streamTimers) armLocked() {
	d := t.next()
	if d == 0 || (t.armedAt != 0 && t.armedAt <= d) {
		return
	}
	t.armedAt = d
	wait := d - time.Since(t.base)
	if t.timer == nil {
		t.timer = time.AfterFunc(wait, t.fire)
	} else {
		t.timer.Reset(wait)
	}
}

// fire cancels the stream for the earliest deadline that has passed, or
// re-arms for the next one (activity moved the idle deadline on).
func (t *streamTimers) fire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.armedAt = 0
	now := time.Since(t.base)
	var why error
	var at time.Duration
	if t.requestAt > 0 && t.requestAt <= now {
		why, at = errRequestTimeout, t.requestAt
	}
	if t.routeAt > 0 && t.routeAt <= now && (why == nil || t.routeAt < at) {
		why, at = errRouteTimeout, t.routeAt
	}
	if t.idleD > 0 {
		if idleAt := time.Duration(t.last.Load()) + t.idleD; idleAt <= now && (why == nil || idleAt < at) {
			why = errStreamIdle
		}
	}
	if why != nil {
		t.done = true
		t.cancelWith(t.cc, t.cancel, why)
		return
	}
	t.armLocked()
}

// touch records stream activity.
func (t *streamTimers) touch() {
	if t != nil && t.idleD > 0 {
		t.last.Store(int64(time.Since(t.base)))
	}
}

// requestDone ends request_timeout once the request body is complete,
// and starts the route's timeout if the router asked for it already.
func (t *streamTimers) requestDone() {
	if t == nil || t.complete.Swap(true) {
		return
	}
	// requestAt is written only below, once: reading it first is safe.
	if t.requestAt == 0 && t.pendingRoute.Load() == 0 {
		return // a bodiless request: nothing to lock for
	}
	t.mu.Lock()
	t.requestAt = 0
	if d := t.pendingRoute.Load(); d > 0 && !t.done {
		t.routeAt = time.Since(t.base) + time.Duration(d)
		t.armLocked()
	}
	t.mu.Unlock()
}

// armRoute starts the route's timeout on the request's context, now if
// the request is complete, else when it is (Envoy's router starts its
// timer on the request's end). A context.WithTimeout per request cost a
// timer, a context, its Done channel and a registration in the parent's
// children map. requestDone and armRoute each look at what the other
// stored after storing their own, so that one of them arms it.
func (t *streamTimers) armRoute(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.pendingRoute.Store(int64(d))
	if t.complete.Load() {
		t.routeAt = time.Since(t.base) + d
		t.armLocked()
	}
}

// routeDone ends the route's timeout (an upgrade was answered).
func (t *streamTimers) routeDone() {
	t.mu.Lock()
	t.pendingRoute.Store(0)
	t.routeAt = 0
	t.mu.Unlock()
}

// stop ends the stream.
func (t *streamTimers) stop() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.done = true
	if t.armedAt != 0 {
		t.timer.Stop()
	}
	t.mu.Unlock()
	t.cancelWith(t.cc, t.cancel, context.Canceled)
}

// cancelWith ends the stream's context with why.
func (t *streamTimers) cancelWith(cc causeCanceler, cancel context.CancelCauseFunc, why error) {
	if cc != nil {
		cc.CancelCause(why)
	} else {
		cancel(why)
	}
}

// streamTimeoutReply answers a request whose stream timer fired, if one did.
func (st *reqState) streamTimeoutReply(w http.ResponseWriter, r *http.Request) bool {
	switch cause(r.Context()) {
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

// routeTimedOut reports whether the route's timeout ended the request.
func routeTimedOut(r *http.Request) bool {
	return cause(r.Context()) == errRouteTimeout
}

// downstreamDone reports whether the request's context ended for another
// reason than the route's timeout: the client went away or a stream timer
// fired.
func downstreamDone(r *http.Request) bool {
	return r.Context().Err() != nil && cause(r.Context()) != errRouteTimeout
}
