package wasm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/abi"
)

// MaxBody caps a body the plugin has buffered (StopIterationAndBuffer);
// past it the request gets 413, the response 500, as Envoy's buffer
// limits do.
const MaxBody = 1 << 20

var errTooLarge = errors.New("body larger than the buffer limit")

// Serve runs the plugin around the rest of the chain: request headers
// and body before next, response headers and body on the way back.
func (f *filter) Serve(s *filters.Stream, next filters.Next) {
	ctx := s.Request.Context()
	p, err := f.plugin.current(ctx)
	if err != nil {
		f.fail(s, next, err)
		return
	}
	h := newHost(s)
	st, err := p.NewStream(ctx, h)
	if err != nil {
		f.fail(s, next, err)
		return
	}
	// The stream ends once the response is written, whatever the client
	// does meanwhile: proxy_on_done/log/delete always run, once, after
	// any request body callback still in progress.
	defer h.end(context.WithoutCancel(ctx), st)
	wantReqBody, wantRespBody := st.HasBodyCallbacks()
	wantReqTrailers, wantRespTrailers := st.HasTrailerCallbacks()
	r := s.Request
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	hadLength := hasBody && r.ContentLength > 0 && r.Header.Get("Content-Length") != ""
	bodyCallbacks := hasBody && (wantReqBody || wantReqTrailers)
	// Trailers the client declared are read before the request goes on
	// (requestBody): the router sends the trailers the request holds when
	// it starts. Any other body streams through the plugin.
	streams := bodyCallbacks && r.Trailer == nil
	a, err := st.RequestHeaders(ctx, 4+valueCount(r.Header), !hasBody)
	// Headers stopped with a body to come wait for a body callback to
	// continue (Envoy's StopIteration), not for proxy_continue_stream.
	held := streams && wantReqBody && err == nil && a == abi.ActionPause && !h.replied() && !st.Closed()
	if !held && !f.settle(s, next, h, st, a, err) {
		return
	}
	if bodyCallbacks && !streams && !f.requestBody(s, next, h, st, wantReqBody, wantReqTrailers) {
		return
	}
	var body *streamedBody
	if streams {
		body = f.newStreamedBody(s, h, st, wantReqBody, wantReqTrailers)
		if held && !body.holdHeaders() {
			return
		}
	}
	if h.req.changed {
		s.ClearRouteCache()
	}
	if body != nil {
		body.install(hadLength)
	}
	w := &respWriter{ResponseWriter: s.Writer, f: f, s: s, h: h, st: st, ctx: ctx,
		wantBody: wantRespBody, wantTrailers: wantRespTrailers, remaining: -1}
	h.resp = &respMap{h: w.ResponseWriter.Header(), code: &w.code}
	s.Writer = w
	if body != nil {
		w.forward(next)
	} else {
		next(s)
	}
	s.Writer = w.ResponseWriter
	w.finish()
}

// step runs one request-side callback and says whether the stream goes
// on: false once it was answered (local reply, failure).
func (f *filter) step(s *filters.Stream, next filters.Next, h *host, st *abi.Stream, cb func() (abi.Action, error)) bool {
	a, err := cb()
	return f.settle(s, next, h, st, a, err)
}

// settle finishes a request-side callback that returned a and err: it
// waits while the plugin paused the stream, and answers a failure, local
// reply or closed stream (false).
func (f *filter) settle(s *filters.Stream, next filters.Next, h *host, st *abi.Stream, a abi.Action, err error) bool {
	if err == nil && a == abi.ActionPause && !h.replied() && !st.Closed() {
		err = st.Wait(s.Request.Context())
	}
	switch {
	case err != nil:
		f.fail(s, next, err)
		return false
	case h.reply != nil:
		f.localReply(s, s.Writer, h.reply)
		return false
	case st.Closed():
		s.LocalReply(http.StatusServiceUnavailable, "", "wasm_close_stream")
		return false
	}
	return true
}

// requestBody feeds a request body whose trailers the client declared to
// the plugin chunk by chunk before the request goes on (a body without
// them streams, streamRequestBody): data a callback continues is passed
// on, data it stops on is buffered and shown again, grown, at the next
// callback. The last data is not the end of the stream (end_of_stream is
// false) when trailers follow, and proxy_on_request_trailers runs after
// it. Everything passed on is then sent upstream, with the trailers.
func (f *filter) requestBody(s *filters.Stream, next filters.Next, h *host, st *abi.Stream, wantBody, wantTrailers bool) bool {
	r := s.Request
	ctx := r.Context()
	var released bytes.Buffer
	buf := make([]byte, 32<<10)
	remaining := r.ContentLength
	trailers := false
	for {
		n, rerr := r.Body.Read(buf)
		h.reqBody = append(h.reqBody, buf[:n]...)
		if remaining > 0 {
			remaining -= int64(n)
		}
		// Declared trailers (HTTP/2) come after the data: read on to the
		// end of the stream for them.
		end := rerr == io.EOF || (remaining == 0 && r.Trailer == nil)
		if rerr != nil && rerr != io.EOF {
			s.LocalReply(http.StatusBadRequest, "", "wasm_request_body_read_failed")
			return false
		}
		if n == 0 && !end {
			continue
		}
		if len(h.reqBody)+released.Len() > MaxBody {
			s.LocalReply(http.StatusRequestEntityTooLarge, "Payload Too Large", "request_payload_too_large")
			return false
		}
		trailers = end && hasTrailers(r.Trailer)
		// The trailers end the stream, not an empty last read before them.
		if wantBody && (n > 0 || !trailers) {
			a, err := st.RequestBody(ctx, len(h.reqBody), end && !trailers)
			if err != nil || h.reply != nil || st.Closed() {
				return f.step(s, next, h, st, func() (abi.Action, error) { return abi.ActionContinue, err })
			}
			if a == abi.ActionContinue {
				released.Write(h.reqBody)
				h.reqBody = h.reqBody[:0]
			}
		}
		if end {
			break
		}
	}
	if trailers && wantTrailers && !f.step(s, next, h, st, func() (abi.Action, error) {
		return st.RequestTrailers(ctx, valueCount(r.Trailer))
	}) {
		return false
	}
	released.Write(h.reqBody)
	h.reqBody = h.reqBody[:0]
	_ = r.Body.Close()
	setRequestBody(r, released.Bytes(), h.req.changed)
	return true
}

// setRequestBody sends b upstream: with a Content-Length, or chunked when
// the request still has trailers (HTTP/1.1 carries them only so).
func setRequestBody(r *http.Request, b []byte, headersChanged bool) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	if hasTrailers(r.Trailer) {
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
		r.Header.Del("Content-Length")
		return
	}
	r.ContentLength = int64(len(b))
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	if r.Header.Get("Content-Length") != "" || headersChanged {
		r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	}
}

// fail ends a stream the plugin cannot serve: 503 wasm_fail_stream, or
// the rest of the chain without the plugin when fail_open is set.
func (f *filter) fail(s *filters.Stream, next filters.Next, err error) {
	if f.failOpen {
		f.log.Warn("wasm: passing the request without the plugin (fail_open)", "route", s.RouteName, "err", err)
		next(s)
		return
	}
	f.log.Error("wasm: the plugin failed; answering 503", "route", s.RouteName, "err", err)
	s.LocalReply(http.StatusServiceUnavailable, "", "wasm_fail_stream")
}

// localReply sends the plugin's own response on w.
func (f *filter) localReply(s *filters.Stream, w http.ResponseWriter, r *abi.LocalResponse) {
	hd := w.Header()
	for _, p := range r.Headers {
		hd.Add(p[0], p[1])
	}
	details := r.Details
	if details == "" {
		details = "wasm_local_reply"
	}
	saved := s.Writer
	s.Writer = w
	s.LocalReply(r.Status, string(r.Body), details)
	s.Writer = saved
}

// respWriter runs the response callbacks: the headers when the upstream
// answers, the body as it is written, the end when the chain returns.
type respWriter struct {
	http.ResponseWriter
	f        *filter
	s        *filters.Stream
	h        *host
	st       *abi.Stream
	ctx      context.Context
	wantBody bool
	// wantTrailers: the module has proxy_on_response_trailers.
	wantTrailers bool

	code       int
	started    bool // WriteHeader seen
	headersOut bool // status line sent
	done       bool // answered otherwise (failure, local reply): drop the rest
	ended      bool // the end of the body was given to the plugin
	remaining  int64
	modified   bool
}

func (w *respWriter) WriteHeader(code int) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	w.writeHeader(code)
}

func (w *respWriter) writeHeader(code int) {
	if w.started || w.done {
		return
	}
	if w.h.reply != nil { // the request body stopped the request
		w.started = true
		w.handled(nil)
		return
	}
	if w.h.failedOpen { // the VM failed on the request body: pass the rest
		w.started, w.code, w.wantBody, w.wantTrailers = true, code, false, false
		w.writeHeaders(false)
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.started, w.code = true, code
	hd := w.ResponseWriter.Header()
	if cl, err := strconv.ParseInt(hd.Get("Content-Length"), 10, 64); err == nil {
		w.remaining = cl
	}
	end := w.s.Request.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified || w.remaining == 0
	a, err := w.st.ResponseHeaders(w.ctx, 1+valueCount(hd), end)
	if err == nil && a == abi.ActionPause && !w.h.replied() {
		err = w.wait()
	}
	if !w.handled(err) {
		return
	}
	w.ended = end
	if !w.wantBody || end {
		w.writeHeaders(false)
	}
}

// handled deals with a failure or a local reply from a response callback;
// false means the upstream response was replaced.
func (w *respWriter) handled(err error) bool {
	if err == nil && w.h.reply == nil {
		return true
	}
	w.done = true
	if w.headersOut {
		return false // too late for another answer: the client sees a short body
	}
	hd := w.ResponseWriter.Header()
	for k := range hd {
		delete(hd, k)
	}
	if err != nil {
		if w.f.failOpen {
			w.f.log.Warn("wasm: response callback failed; fail_open", "err", err)
		} else {
			w.f.log.Error("wasm: response callback failed; answering 503", "err", err)
		}
		w.s.Writer = w.ResponseWriter
		w.s.LocalReply(http.StatusServiceUnavailable, "", "wasm_fail_stream")
		return false
	}
	w.f.localReply(w.s, w.ResponseWriter, w.h.reply)
	return false
}

func (w *respWriter) writeHeaders(final bool) {
	if w.headersOut {
		return
	}
	w.headersOut = true
	hd := w.ResponseWriter.Header()
	if w.modified && hd.Get("Content-Length") != "" {
		if final {
			hd.Set("Content-Length", strconv.Itoa(len(w.h.respBody)))
		} else {
			hd.Del("Content-Length")
		}
	}
	w.ResponseWriter.WriteHeader(w.code)
}

// wait holds a paused response until the plugin resumes it, letting the
// request side's callbacks run meanwhile.
func (w *respWriter) wait() error {
	w.h.mu.Unlock()
	defer w.h.mu.Lock()
	return w.st.Wait(w.ctx)
}

func (w *respWriter) Write(b []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	if !w.started {
		w.writeHeader(http.StatusOK)
	}
	if !w.done && w.h.reply != nil { // the request body stopped the request
		w.handled(nil)
	}
	if w.done {
		return len(b), nil
	}
	if !w.wantBody || w.ended {
		w.writeHeaders(false)
		return w.ResponseWriter.Write(b)
	}
	w.h.respBody = append(w.h.respBody, b...)
	if w.remaining > 0 {
		w.remaining -= int64(len(b))
	}
	if err := w.bodyCallback(w.remaining == 0); err != nil {
		return 0, err
	}
	return len(b), nil
}

// bodyCallback gives the buffered body to the plugin and passes it on
// unless the plugin keeps buffering.
func (w *respWriter) bodyCallback(end bool) error {
	if len(w.h.respBody) > MaxBody {
		w.handled(errTooLarge)
		return errTooLarge
	}
	before := bytes.Clone(w.h.respBody)
	a, err := w.st.ResponseBody(w.ctx, len(w.h.respBody), end)
	if !w.handled(err) {
		return nil
	}
	if !bytes.Equal(before, w.h.respBody) {
		w.modified = true
	}
	w.ended = end
	if a == abi.ActionContinue || end {
		w.writeHeaders(end)
		_, werr := w.ResponseWriter.Write(w.h.respBody)
		w.h.respBody = w.h.respBody[:0]
		return werr
	}
	return nil
}

// finish ends the response: a body whose end the plugin has not seen yet
// gets its last callback.
func (w *respWriter) finish() {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	if w.h.reqAborted && w.headersOut {
		// The request body stopped a stream whose response had started:
		// Envoy resets it.
		panic(http.ErrAbortHandler)
	}
	if !w.done && w.h.reply != nil {
		w.started = true
		w.handled(nil)
	}
	if !w.started || w.done {
		return
	}
	if w.wantTrailers && hasResponseTrailers(w.ResponseWriter.Header()) {
		w.finishWithTrailers()
		return
	}
	if w.wantBody && !w.ended {
		_ = w.bodyCallback(true)
		return
	}
	w.writeHeaders(false)
}

// finishWithTrailers ends a response that has trailers, as Envoy: the
// body callbacks were told end_of_stream=false, proxy_on_response_trailers
// ends the stream, and then what the plugin held of the body goes out
// (the trailers follow it when the handler returns).
func (w *respWriter) finishWithTrailers() {
	if !w.responseTrailers() {
		return
	}
	w.writeHeaders(true)
	if len(w.h.respBody) > 0 {
		_, _ = w.ResponseWriter.Write(w.h.respBody)
		w.h.respBody = w.h.respBody[:0]
	}
	w.ended = true
}

// Flush passes through once the status line is out and the plugin holds
// no body: a streamed response (gRPC) reaches the client as it comes, and
// the downstream commits to chunked framing, which its trailers need.
func (w *respWriter) Flush() {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	if w.headersOut && !w.done && len(w.h.respBody) == 0 {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// valueCount is the number of header lines of h, without building them.
func valueCount(h http.Header) int {
	n := 0
	for _, v := range h {
		n += len(v)
	}
	return n
}
