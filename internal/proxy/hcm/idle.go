package hcm

import (
	"context"
	"errors"
	"io"
	"time"
)

// errIdle is the cancel cause when a route's idle_timeout fires.
var errIdle = errors.New("stream idle timeout")

// idleWatch implements RouteAction.idle_timeout: the upstream exchange is
// cancelled when no bytes move for d. Envoy answers 408 when that happens
// before response headers and resets the stream afterwards.
type idleWatch struct {
	t *time.Timer
	d time.Duration
}

func withIdle(ctx context.Context, d time.Duration) (context.Context, *idleWatch, context.CancelFunc) {
	if d <= 0 {
		return ctx, nil, func() {}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	w := &idleWatch{d: d, t: time.AfterFunc(d, func() { cancel(errIdle) })}
	return cctx, w, func() { w.t.Stop(); cancel(context.Canceled) }
}

func (w *idleWatch) touch() {
	if w != nil {
		w.t.Reset(w.d)
	}
}

// idleBody resets the watch on every read of the upstream body.
type idleBody struct {
	io.ReadCloser
	w *idleWatch
}

func (b idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.touch()
	}
	return n, err
}

func isIdle(ctx context.Context) bool { return errors.Is(context.Cause(ctx), errIdle) }
