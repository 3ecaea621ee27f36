package lua

import (
	"context"
	"errors"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/portico-gw/portico/internal/proxy/budget"
)

// Limits bound every call into a script (the top level when a state is
// loaded, and each envoy_on_request / envoy_on_response): see
// internal/proxy/budget. A call over its budget ends with an error, its
// stream gets a 500, and its state is closed rather than reused.
type Limits = budget.Limits

// gopher-lua v1.1.1 has no instruction hook (no debug.sethook) and no
// allocator of its own to bound (its values are Go values). What it does
// have: with a context set, its VM loop asks the context's Done() before
// every instruction, in every nested call and in coroutines that run with
// the same context. callContext is a context whose Done() is that hook: it
// counts the instruction and checks the budget, and turns Done (closed)
// once the call is over it; gopher-lua then raises Err()'s message, and
// keeps raising at every further instruction, so a script's pcall cannot
// swallow it. Its stack (CallStackSize) and registry (RegistryMaxSize)
// limits are set in NewState.
type callContext struct {
	L      *glua.LState // the state whose calls this context runs
	meter  budget.Meter
	parent context.Context // the request's: a client that goes away stops the script
	done   chan struct{}
	err    error
	polls  uint32
}

func newCallContext() *callContext {
	c := &callContext{done: make(chan struct{})}
	c.meter.Measure = func() int64 { return heldBytes(c.L) }
	return c
}

// start prepares the context for one call.
func (c *callContext) start(parent context.Context, limits Limits) {
	if parent == nil {
		parent = context.Background()
	}
	c.parent, c.err, c.polls = parent, nil, 0
	c.meter.Start(limits)
}

// stop ends the call and returns the bytes it was charged.
func (c *callContext) stop() int64 { return c.meter.Stop() }

// aborted reports whether the call was stopped (a limit, or the request
// went away); its state may be half-way through anything and is dropped.
func (c *callContext) aborted() bool { return c.err != nil }

func (c *callContext) abort(err error) {
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// Done is gopher-lua's per-instruction hook (see the type's comment).
func (c *callContext) Done() <-chan struct{} {
	if c.err != nil {
		return c.done
	}
	if err := c.meter.Step(); err != nil {
		c.abort(err)
		return c.done
	}
	if c.polls++; c.polls&1023 == 0 {
		select {
		case <-c.parent.Done():
			c.abort(c.parent.Err())
		default:
		}
	}
	return c.done
}

func (c *callContext) Err() error                  { return c.err }
func (c *callContext) Deadline() (time.Time, bool) { return time.Time{}, false }

// Value is nil: scripts reach the request through their handle, never
// through the context (and context.WithCancel must not find a parent
// cancelCtx through it, see AfterFunc).
func (c *callContext) Value(any) any { return nil }

// AfterFunc makes context.WithCancel(c), which gopher-lua calls for every
// coroutine it creates, register here instead of starting a goroutine
// that would call Done() concurrently. The child context it makes is never
// used: coroutines are resumed with c itself (see guardCoroutines), so f
// need not run.
func (c *callContext) AfterFunc(func()) func() bool { return func() bool { return true } }

// meterOf is the budget of the call running on L (nil outside a budgeted
// call: the validator runs scripts under its own limits).
func meterOf(L *glua.LState) *budget.Meter {
	if c, ok := L.Context().(*callContext); ok {
		return &c.meter
	}
	return nil
}

// charge counts n bytes a library function is about to allocate, raising
// the limit error instead when they do not fit.
func charge(L *glua.LState, n int) {
	if m := meterOf(L); m != nil {
		if err := m.Charge(int64(n)); err != nil {
			if c, ok := L.Context().(*callContext); ok {
				c.abort(err)
			}
			L.RaiseError("%s", err.Error())
		}
	}
}

// blocking runs fn, which waits on the network or the client, with the
// call's clock and allocation count paused.
func blocking[T any](L *glua.LState, fn func() T) T {
	m := meterOf(L)
	if m == nil {
		return fn()
	}
	m.Pause()
	defer m.Resume()
	return fn()
}

// callError is the error a call ended with: the limit (or the request's
// end) when the call was aborted, whatever the script made of it.
func callError(c *callContext, err error) error {
	if c != nil && c.err != nil {
		return c.err
	}
	return err
}

// IsLimit reports whether err is a call's budget running out.
func IsLimit(err error) bool {
	var e *budget.Exceeded
	return errors.As(err, &e)
}
