package proxy

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// waitCause waits for the request's context to end and returns its cause,
// or nil when it has not ended within max.
func waitCause(r *http.Request, max time.Duration) error {
	select {
	case <-r.Context().Done():
		return context.Cause(r.Context())
	case <-time.After(max):
		return nil
	}
}

// One timer serves the idle, request and route deadlines: the earliest
// that passes is the cause, activity moves only the idle deadline, and
// timers reused from the pool never act on a stream they were not armed for.
func TestStreamTimersDeadlines(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name          string
		idle, request time.Duration
		route         time.Duration // 0: not armed
		touchFor      time.Duration // keep the stream active this long
		requestDone   bool
		want          error
		notBefore     time.Duration
	}{
		{name: "idle", idle: 40 * ms, want: errStreamIdle, notBefore: 40 * ms},
		{name: "request before idle", idle: time.Second, request: 40 * ms, want: errRequestTimeout, notBefore: 40 * ms},
		{name: "route before idle", idle: time.Second, route: 40 * ms, requestDone: true, want: errRouteTimeout, notBefore: 40 * ms},
		// Envoy's route timeout runs from the end of the request.
		{name: "route waits for the request", idle: 150 * ms, route: 40 * ms, want: errStreamIdle, notBefore: 150 * ms},
		{name: "activity defers idle", idle: 40 * ms, touchFor: 120 * ms, want: errStreamIdle, notBefore: 150 * ms},
		{name: "activity does not defer the request timeout", idle: 40 * ms, request: 100 * ms, touchFor: 300 * ms,
			want: errRequestTimeout, notBefore: 100 * ms},
		{name: "complete request ends request_timeout", idle: 150 * ms, request: 40 * ms, requestDone: true,
			want: errStreamIdle, notBefore: 150 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "http://x/", nil)
			start := time.Now()
			r, st := startTimers(r, tc.idle, tc.request)
			defer st.stop()
			if tc.requestDone {
				st.requestDone()
			}
			if tc.route > 0 {
				st.armRoute(tc.route)
			}
			stopTouch := make(chan struct{})
			go func() {
				for time.Since(start) < tc.touchFor {
					st.touch()
					select {
					case <-stopTouch:
						return
					case <-time.After(5 * ms):
					}
				}
			}()
			defer close(stopTouch)
			got := waitCause(r, 5*time.Second)
			if got != tc.want {
				t.Fatalf("cause %v, want %v", got, tc.want)
			}
			if el := time.Since(start); el < tc.notBefore {
				t.Errorf("fired after %v, not before %v", el, tc.notBefore)
			}
		})
	}
}

func TestStreamTimersStop(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r1, st := startTimers(r, 30*time.Millisecond, 0)
	st.stop()
	st.touch() // a late body read must not matter
	st.requestDone()
	if c := context.Cause(r1.Context()); c != context.Canceled {
		t.Fatalf("stopped stream's cause %v, want context.Canceled", c)
	}
	time.Sleep(60 * time.Millisecond)
	if c := context.Cause(r1.Context()); c != context.Canceled {
		t.Fatalf("the idle timer fired after the stop: cause %v", c)
	}
	// Without stream timeouts there are timers still, for the route's.
	r2, st2 := startTimers(r, 0, 0)
	st2.requestDone()
	st2.armRoute(20 * time.Millisecond)
	if got := waitCause(r2, 5*time.Second); got != errRouteTimeout {
		t.Errorf("route timeout without stream timeouts: %v", got)
	}
}
