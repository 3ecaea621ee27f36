package hcm

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock is a timerClock that moves only when the test advances it;
// timers due by then fire on the test's goroutine, in order, each seeing
// the clock at its own due time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c      *fakeClock
	at     time.Time
	f      func()
	active bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1e9, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timerHandle {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.at, t.active = t.c.now.Add(d), true
	return was
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

// advance moves the clock by d, firing the timers due on the way.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		var due *fakeTimer
		for _, t := range c.timers {
			if t.active && !t.at.After(end) {
				due = t
				break
			}
		}
		if due == nil {
			break
		}
		due.active = false
		if due.at.After(c.now) {
			c.now = due.at
		}
		c.mu.Unlock()
		due.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// One timer serves the idle, request and route deadlines: the earliest
// that passes is the cause, activity moves only the idle deadline, and the
// route's timeout runs from the end of the request. The clock is a fake
// one advanced in steps: each case says exactly when the stream ends.
func TestStreamTimersDeadlines(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name          string
		idle, request time.Duration
		route         time.Duration // 0: not armed
		touchUntil    time.Duration // the stream is active at every step before this
		requestDoneAt time.Duration // -1: never
		want          error
		at            time.Duration // when the stream ends
	}{
		{name: "idle", idle: 40 * ms, requestDoneAt: -1, want: errStreamIdle, at: 40 * ms},
		{name: "request before idle", idle: time.Second, request: 40 * ms, requestDoneAt: -1, want: errRequestTimeout, at: 40 * ms},
		{name: "route before idle", idle: time.Second, route: 40 * ms, want: errRouteTimeout, at: 40 * ms},
		// Envoy's route timeout runs from the end of the request.
		{name: "route waits for the request", idle: 150 * ms, route: 40 * ms, requestDoneAt: -1, want: errStreamIdle, at: 150 * ms},
		{name: "route starts at the request's end", idle: time.Second, route: 40 * ms, requestDoneAt: 60 * ms,
			want: errRouteTimeout, at: 100 * ms},
		// The last activity is at 115ms.
		{name: "activity defers idle", idle: 40 * ms, touchUntil: 120 * ms, requestDoneAt: -1, want: errStreamIdle, at: 155 * ms},
		{name: "activity does not defer the request timeout", idle: 40 * ms, request: 100 * ms, touchUntil: 300 * ms,
			requestDoneAt: -1, want: errRequestTimeout, at: 100 * ms},
		{name: "complete request ends request_timeout", idle: 150 * ms, request: 40 * ms, want: errStreamIdle, at: 150 * ms},
	}
	const step = 5 * ms
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			r, _ := http.NewRequest("GET", "http://x/", nil)
			r, st := startTimers(clock, r, tc.idle, tc.request)
			defer st.stop()
			if tc.requestDoneAt == 0 {
				st.requestDone()
			}
			if tc.route > 0 {
				st.armRoute(tc.route)
			}
			for now := time.Duration(0); now < 2*time.Second; now += step {
				if now > 0 && now == tc.requestDoneAt {
					st.requestDone()
				}
				if now < tc.touchUntil {
					st.touch()
				}
				if err := r.Context().Err(); err != nil {
					t.Fatalf("ended at %v, want %v", now, tc.at)
				}
				clock.advance(step)
				if r.Context().Err() != nil {
					if got := context.Cause(r.Context()); got != tc.want || now+step != tc.at {
						t.Fatalf("ended at %v by %v, want %v by %v", now+step, got, tc.at, tc.want)
					}
					return
				}
			}
			t.Fatalf("never ended, want %v at %v", tc.want, tc.at)
		})
	}
}

// A stopped stream's timers do nothing more, and the route's timer works
// without the stream's.
func TestStreamTimersStop(t *testing.T) {
	clock := newFakeClock()
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r1, st := startTimers(clock, r, 30*time.Millisecond, 0)
	st.stop()
	st.touch() // a late body read must not matter
	st.requestDone()
	if c := context.Cause(r1.Context()); c != context.Canceled {
		t.Fatalf("stopped stream's cause %v, want context.Canceled", c)
	}
	clock.advance(time.Second)
	if c := context.Cause(r1.Context()); c != context.Canceled {
		t.Fatalf("the idle timer fired after the stop: cause %v", c)
	}
	// Without stream timeouts there are timers still, for the route's.
	r2, st2 := startTimers(clock, r, 0, 0)
	defer st2.stop()
	st2.requestDone()
	st2.armRoute(20 * time.Millisecond)
	clock.advance(19 * time.Millisecond)
	if err := r2.Context().Err(); err != nil {
		t.Fatalf("route timeout fired early: %v", err)
	}
	clock.advance(time.Millisecond)
	if got := context.Cause(r2.Context()); got != errRouteTimeout {
		t.Errorf("route timeout without stream timeouts: %v", got)
	}
}

// The wall clock drives the proxy's timers: a stream with a short idle
// timeout does end, by its cause (no bound on when: that is the fake
// clock's job above).
func TestStreamTimersWallClock(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r, st := startTimers(wallClock{}, r, time.Millisecond, 0)
	defer st.stop()
	<-r.Context().Done()
	if got := context.Cause(r.Context()); got != errStreamIdle {
		t.Fatalf("cause %v, want %v", got, errStreamIdle)
	}
}
