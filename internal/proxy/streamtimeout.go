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

func (t *streamTimers) stop() {
	if t == nil {
		return
	}
	if t.idle != nil {
		t.idle.Stop()
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
