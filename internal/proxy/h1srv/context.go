package h1srv

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// reqCtx is a request's context: cancelled when the handler returns,
// when the client goes away, or when a write to it fails. It costs no
// allocation unless used: the Done channel is made on demand, and a
// context derived from it registers through AfterFunc (the context
// package's afterFuncer hook) instead of a goroutine or a children map.
type reqCtx struct {
	c        *conn
	mu       sync.Mutex
	done     chan struct{}
	canceled atomic.Bool
	cause    error // why it was cancelled; guarded by mu
	nextID   uint64
	funcs    []afterFunc
	inline   [2]afterFunc
}

type afterFunc struct {
	id uint64
	f  func()
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (x *reqCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (x *reqCtx) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		if x.canceled.Load() {
			return closedChan
		}
		x.done = make(chan struct{})
	}
	return x.done
}

func (x *reqCtx) Err() error {
	if x.canceled.Load() {
		return context.Canceled
	}
	return nil
}

// Value knows http.LocalAddrContextKey, as net/http's request contexts
// (the access log's %DOWNSTREAM_LOCAL_ADDRESS% reads it).
func (x *reqCtx) Value(key any) any {
	if key == http.LocalAddrContextKey {
		return x.c.localAddr
	}
	return nil
}

func (x *reqCtx) String() string { return "h1srv.requestContext" }

// AfterFunc runs f in its own goroutine once the context is cancelled;
// stop unregisters it (context.AfterFunc semantics).
func (x *reqCtx) AfterFunc(f func()) (stop func() bool) {
	x.mu.Lock()
	if x.canceled.Load() {
		x.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if x.funcs == nil {
		x.funcs = x.inline[:0]
	}
	x.nextID++
	id := x.nextID
	x.funcs = append(x.funcs, afterFunc{id, f})
	x.mu.Unlock()
	return func() bool { return x.stopAfter(id) }
}

func (x *reqCtx) stopAfter(id uint64) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i, a := range x.funcs {
		if a.id == id {
			x.funcs = append(x.funcs[:i], x.funcs[i+1:]...)
			return true
		}
	}
	return false
}

func (x *reqCtx) cancel() { x.CancelCause(nil) }

// CancelCause cancels the request with a cause that Cause reports (nil:
// context.Canceled), as context.WithCancelCause's cancel function does.
// The proxy's stream timers use it so that they need no context of their
// own; the first cancellation's cause is kept.
func (x *reqCtx) CancelCause(cause error) {
	x.mu.Lock()
	if x.canceled.Load() {
		x.mu.Unlock()
		return
	}
	if cause == nil {
		cause = context.Canceled
	}
	x.cause = cause
	x.canceled.Store(true)
	if x.done != nil {
		close(x.done)
	}
	funcs := x.funcs
	x.funcs = nil
	x.mu.Unlock()
	for _, a := range funcs {
		go a.f()
	}
}

// Cause is context.Cause for this context: nil until it is cancelled.
func (x *reqCtx) Cause() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cause
}

// backgroundReadDelay is how long a handler may run, once the request
// has been read entirely, before the connection is watched for the client
// going away. net/http starts that read for every request: a goroutine, a
// read system call that finds nothing (EAGAIN) and a netpoll registration,
// then a deadline change to abort it, about a tenth of the proxy's CPU per
// request. A proxied request to a healthy upstream is answered well
// within 10 ms, so it never pays; a slow one learns of a disconnect at
// most 10 ms later than with net/http, which is small beside the route
// timeouts it would otherwise run to.
const backgroundReadDelay = 10 * time.Millisecond

const (
	bgIdle = iota
	bgArmed
	bgReading
)

// armBackgroundRead schedules the disconnect watch for the current
// request; its body (if any) is read to the end.
func (c *conn) armBackgroundRead() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.bgState != bgIdle || !c.inHandler {
		return
	}
	if c.bgTimer == nil {
		c.bgTimer = time.AfterFunc(backgroundReadDelay, c.backgroundRead)
	} else {
		c.bgTimer.Reset(backgroundReadDelay)
	}
	c.bgState = bgArmed
}

// backgroundRead runs on the timer's goroutine: it blocks reading one
// byte. A byte is the client's next (pipelined) request and is kept for
// it; an error means the client is gone and cancels the request.
func (c *conn) backgroundRead() {
	c.bgMu.Lock()
	if c.bgState != bgArmed {
		c.bgMu.Unlock()
		return
	}
	c.bgState = bgReading
	c.bgAborted = false
	x := c.cur.Load()
	c.bgMu.Unlock()
	c.dropStaleDeadline()

	n, err := c.rwc.Read(c.cr.byteBuf[:])

	c.bgMu.Lock()
	if n == 1 {
		c.cr.hasByte = true
	}
	if err != nil {
		if ne, ok := err.(net.Error); !(ok && c.bgAborted && ne.Timeout()) && x != nil {
			x.ctx.cancel()
		}
	}
	c.bgState = bgIdle
	c.bgCond.Broadcast()
	c.bgMu.Unlock()
}

// stopBackgroundRead disarms the watch, or interrupts the read with a
// past deadline (net/http's abortPendingRead) and waits for it, before the
// connection is read again or handed over.
func (c *conn) stopBackgroundRead() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	switch c.bgState {
	case bgArmed:
		c.bgTimer.Stop()
		c.bgState = bgIdle
	case bgReading:
		c.bgAborted = true
		c.rwc.SetReadDeadline(aLongTimeAgo)
		for c.bgState == bgReading {
			c.bgCond.Wait()
		}
		c.rwc.SetReadDeadline(time.Time{})
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// bodyDone is called when the request body reaches its end.
func (c *conn) bodyDone() { c.armBackgroundRead() }
