package h1client

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
)

// h1Body is a response body; its end returns the connection to the pool.
type h1Body struct {
	c    *h1Conn
	rc   io.ReadCloser // http.ReadResponse's body, reading c.br
	keep bool
	ctx  context.Context
	done atomic.Bool // the connection was released
	err  error       // what Read returns once done
	// length is rc for a simple response (readResponse), allocated with
	// the h1Body.
	length lengthBody
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	if err != nil {
		if err == io.EOF {
			b.err = err
			b.finish(true)
			return n, err
		}
		if b.ctx.Err() != nil {
			// The read failed because the context's interrupt ran.
			err = fmt.Errorf("%w (%v)", b.ctx.Err(), err)
		}
		b.err = err
		b.finish(false)
	}
	return n, err
}

// Close before the end closes the connection: draining an unknown amount
// from a possibly slow upstream would hold the caller (net/http does the
// same). rc is not closed: its Close drains.
func (b *h1Body) Close() error {
	if b.err == nil {
		b.err = errBodyClosed
	}
	b.finish(false)
	return nil
}

func (b *h1Body) finish(ok bool) {
	if b.done.CompareAndSwap(false, true) {
		b.c.release(ok && b.keep)
	}
}
