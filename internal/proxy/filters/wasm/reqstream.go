package wasm

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/abi"
)

// The request body streams through the plugin as in Envoy: once the
// headers callback continued, the headers go upstream (next runs) and
// each piece of the body is given to proxy_on_request_body as the router
// reads it, possibly on an HTTP transport's goroutine, while the response
// may already be coming back (bidirectional gRPC). So the stream's
// callbacks, from either side, run under host.mu, and the body never
// answers the request itself: a local reply or a failure is left in
// host.reply (host.reqAborted set) and the read fails, which aborts the
// upstream request; the response writer then answers it, or resets the
// stream once the response has started.

var (
	errAborted     = errors.New("wasm: the plugin stopped the request")
	errStreamEnded = errors.New("wasm: the stream already ended")
)

// streamedBody is the request body as the plugin lets it through.
type streamedBody struct {
	f         *filter
	s         *filters.Stream
	h         *host
	st        *abi.Stream
	ctx       context.Context
	src       io.ReadCloser
	buf       []byte
	out       []byte // continued data not read yet
	spare     []byte // the buffer out was, once read: the next to buffer into
	remaining int64  // of a body with a length; -1 without
	// wantBody and wantTrailers: the module has the callbacks (and has not
	// failed open since).
	wantBody, wantTrailers bool
	done                   bool  // the end went through the plugin
	err                    error // sticky
}

// newStreamedBody makes the streaming body of s's request.
func (f *filter) newStreamedBody(s *filters.Stream, h *host, st *abi.Stream, wantBody, wantTrailers bool) *streamedBody {
	r := s.Request
	return &streamedBody{f: f, s: s, h: h, st: st, ctx: r.Context(), src: r.Body, buf: make([]byte, 32<<10),
		remaining: r.ContentLength, wantBody: wantBody, wantTrailers: wantTrailers}
}

// holdHeaders runs body callbacks before the request goes on, while the
// headers callback stopped iteration: the headers go with the first data
// a body callback continues (or the end), with the edits made until then,
// as in Envoy. False means the plugin answered (a local reply, a failure).
// A downstream read error is left for the router, which reads it next.
func (b *streamedBody) holdHeaders() bool {
	for len(b.out) == 0 && !b.done && b.err == nil {
		b.next()
	}
	if b.err == errAborted {
		b.h.reqAborted = false // answered here, before the upstream started
		b.f.localReply(b.s, b.s.Writer, b.h.reply)
		return false
	}
	return true
}

// install puts the body on the request about to go upstream. The
// plugin's request header map becomes a copy: edits made from now on are
// not sent (the headers have gone, as in Envoy), and the router and the
// transport may read the request's own map meanwhile.
func (b *streamedBody) install(hadLength bool) {
	r, h := b.s.Request, b.h
	if hadLength && r.Header.Get("Content-Length") == "" {
		// The plugin removed Content-Length so that it may change the
		// body's length: the upstream gets it chunked.
		r.ContentLength = -1
	}
	snap := *r
	snap.Header = r.Header.Clone()
	u := *r.URL
	snap.URL = &u
	h.req = &reqMap{r: &snap, changed: h.req.changed}
	r.Body = b
}

func (b *streamedBody) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.done {
			return 0, io.EOF
		}
		b.next()
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *streamedBody) Close() error { return b.src.Close() }

// next reads one piece from downstream (without the lock: the client may
// take its time) and runs it through the plugin.
func (b *streamedBody) next() {
	n, rerr := b.src.Read(b.buf)
	if rerr != nil && rerr != io.EOF {
		b.err = rerr // the router deals with a client that failed
		return
	}
	if b.remaining > 0 {
		b.remaining -= int64(n)
	}
	end := rerr == io.EOF || b.remaining == 0
	if n == 0 && !end {
		return
	}
	h := b.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished {
		b.err = errStreamEnded
		return
	}
	h.streamingRequest = true
	defer func() { h.streamingRequest = false }()
	h.reqBody = append(h.reqBody, b.buf[:n]...)
	b.done = end
	trailers := end && hasTrailers(b.s.Request.Trailer)
	if len(h.reqBody) > MaxBody && b.wantBody {
		b.abort(&abi.LocalResponse{Status: http.StatusRequestEntityTooLarge, Body: []byte("Payload Too Large"), Details: "request_payload_too_large"})
		return
	}
	// The trailers end the stream, not an empty last read before them.
	if b.wantBody && (n > 0 || !trailers) {
		a, err := b.st.RequestBody(b.ctx, len(h.reqBody), end && !trailers)
		if b.stopped(err) {
			return
		}
		if a == abi.ActionContinue {
			b.release()
		}
	}
	if !end {
		if !b.wantBody {
			b.release()
		}
		return
	}
	if trailers && b.wantTrailers && !b.requestTrailers() {
		return
	}
	// What the plugin still holds goes with the end, as before streaming.
	b.release()
}

// release hands the buffered data on. Two buffers take turns: the one
// being read and the one the plugin's data grows in.
func (b *streamedBody) release() {
	h := b.h
	if len(h.reqBody) == 0 {
		return
	}
	if len(b.out) > 0 { // released earlier in the same piece
		b.out = append(b.out, h.reqBody...)
		h.reqBody = h.reqBody[:0]
		return
	}
	b.out, h.reqBody = h.reqBody, b.spare[:0]
	b.spare = b.out
}

// requestTrailers runs proxy_on_request_trailers; a pause waits for the
// plugin to resume the stream without holding the stream's lock. False
// means the request was stopped.
func (b *streamedBody) requestTrailers() bool {
	h := b.h
	a, err := b.st.RequestTrailers(b.ctx, valueCount(b.s.Request.Trailer))
	if err == nil && a == abi.ActionPause && !h.replied() && !b.st.Closed() {
		h.mu.Unlock()
		err = b.st.Wait(b.ctx)
		h.mu.Lock()
		if h.finished {
			b.err = errStreamEnded
			return false
		}
	}
	return !b.stopped(err)
}

// stopped deals with what a callback left: a failure (the rest passes
// unchanged with fail_open, as the filter does for a broken VM), the
// plugin's local reply or closed stream. True means the request stops.
func (b *streamedBody) stopped(err error) bool {
	h := b.h
	switch {
	case err != nil && b.f.failOpen:
		b.f.log.Warn("wasm: request body callback failed; passing the rest (fail_open)", "route", b.s.RouteName, "err", err)
		b.wantBody, b.wantTrailers, h.failedOpen = false, false, true
		return false
	case err != nil:
		b.f.log.Error("wasm: request body callback failed; answering 503", "route", b.s.RouteName, "err", err)
		b.abort(&abi.LocalResponse{Status: http.StatusServiceUnavailable, Details: "wasm_fail_stream"})
	case h.reply != nil:
		b.abort(h.reply)
	case b.st.Closed():
		b.abort(&abi.LocalResponse{Status: http.StatusServiceUnavailable, Details: "wasm_close_stream"})
	default:
		return false
	}
	return true
}

// abort stops the request with r as its answer (held by h.mu).
func (b *streamedBody) abort(r *abi.LocalResponse) {
	b.h.reply, b.h.reqAborted = r, true
	b.err = errAborted
	b.out = nil
}

// forward runs the rest of the chain with a streaming request body. The
// router resets the stream when a request body read fails while it
// buffers the body (for retries) or copies the response: when that
// failure is the plugin stopping the request and nothing of the response
// went out, the plugin's answer is sent instead, as in Envoy.
func (w *respWriter) forward(next filters.Next) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler && w.answerAbort() {
				return
			}
			panic(p)
		}
	}()
	next(w.s)
}

// answerAbort answers a request the body stopped, unless the status line
// already went out; true when the stream is answered.
func (w *respWriter) answerAbort() bool {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	if !w.h.reqAborted || w.headersOut {
		return false
	}
	if !w.done {
		w.started = true
		w.handled(nil)
	}
	return true
}

// end runs proxy_on_done/log/delete once both sides are finished: the
// response has been written, and a request body still read by the
// upstream transport runs no callback after this.
func (h *host) end(ctx context.Context, st *abi.Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.finished = true
	st.Done(ctx)
}
