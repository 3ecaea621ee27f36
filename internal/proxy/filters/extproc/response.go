package extproc

import (
	"bytes"
	"net/http"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// respWriter runs the response phases around the rest of the chain: the
// headers when the status is written, the body as its mode says (held
// back for Buffered, piece by piece for Streamed, through the processor
// for FullDuplexStreamed), the trailers at the end. It also answers with
// a failure met while the request body streamed upstream.
type respWriter struct {
	w    http.ResponseWriter // downstream
	ss   *session
	code int
	// started: the chain wrote its status; sent: the downstream has it.
	started, sent bool
	// swallow drops the rest of the upstream body (an answer replaced it).
	swallow bool
	// aborted: processing failed after the status went downstream; the
	// response is reset as Envoy resets the stream.
	aborted bool
	mode    extprocv3.ProcessingMode_BodySendMode
	buf     bytes.Buffer
	duplex  *duplexResponse
}

func (w *respWriter) Header() http.Header { return w.w.Header() }

// Unwrap lets http.ResponseController reach the connection (upgrades).
func (w *respWriter) Unwrap() http.ResponseWriter { return w.w }

// Flush passes through once the status went downstream, except while the
// processor's goroutine writes the body (full duplex).
func (w *respWriter) Flush() {
	if w.sent && w.duplex == nil && !w.swallow {
		_ = http.NewResponseController(w.w).Flush()
	}
}

func (w *respWriter) WriteHeader(code int) {
	if w.started {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.w.WriteHeader(code)
		return
	}
	w.started, w.code = true, code
	ss := w.ss
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.pending != nil {
		w.replyWith(ss.pending)
		return
	}
	if ss.complete || code == http.StatusSwitchingProtocols {
		w.send()
		return
	}
	noBody := code == http.StatusNoContent || code == http.StatusNotModified || ss.s.Request.Method == http.MethodHead ||
		w.w.Header().Get("Content-Length") == "0"
	if sendHeaders(ss.mode.GetResponseHeaderMode()) && !w.responseHeaders(noBody) {
		return
	}
	w.mode = ss.mode.GetResponseBodyMode()
	if ss.complete || noBody {
		w.mode = extprocv3.ProcessingMode_NONE
	}
	switch w.mode {
	case extprocv3.ProcessingMode_BUFFERED, extprocv3.ProcessingMode_BUFFERED_PARTIAL:
		return // the status waits for the body
	case extprocv3.ProcessingMode_STREAMED, extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED:
		// The processor may change the body's size.
		w.w.Header().Del("Content-Length")
	}
	w.send()
	if w.mode == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED && ss.ensureStream() {
		w.duplex = startDuplexResponse(w)
	}
}

// responseHeaders sends the response headers and applies the answer; false
// when the answer replaced the response.
func (w *respWriter) responseHeaders(noBody bool) bool {
	ss := w.ss
	h := w.w.Header()
	ss.inHeaders = true
	resp, f := ss.exchange(&extprocsvc.ProcessingRequest{
		Request: &extprocsvc.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocsvc.HttpHeaders{
			Headers: responseHeaderMap(w.code, h), EndOfStream: noBody}},
		Attributes:      attributes(ss.cfg.respAttrs, ss.s, w.code, h),
		MetadataContext: metadataContext(ss.cfg.forwardNS, ss.s),
	})
	if f == nil && resp != nil {
		f = w.onResponseHeaders(resp)
	}
	ss.inHeaders = false
	if f != nil {
		return w.failed(f)
	}
	return !w.swallow
}

func (w *respWriter) onResponseHeaders(resp *extprocsvc.ProcessingResponse) *failure {
	ss := w.ss
	switch x := resp.GetResponse().(type) {
	case *extprocsvc.ProcessingResponse_ImmediateResponse:
		return &failure{immediate: x.ImmediateResponse}
	case *extprocsvc.ProcessingResponse_ResponseHeaders:
		applyDynamicMetadata(resp.GetDynamicMetadata(), ss.cfg.receiveNS, ss.s)
		ss.allowOverride(resp.GetModeOverride())
		cr := x.ResponseHeaders.GetResponse()
		if err := applyMutation(cr.GetHeaderMutation(), headerTarget{h: w.w.Header(), setCode: func(c int) { w.code = c }}); err != nil {
			return ss.protocolFailure(err.Error())
		}
		if cr.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE {
			w.writeBody(mutatedBody(nil, cr.GetBodyMutation()))
			w.swallow = true
		}
		return nil
	}
	return ss.protocolFailure("spurious message")
}

// failed ends processing on the response side; false when the request
// was answered instead.
func (w *respWriter) failed(f *failure) bool {
	ss := w.ss
	ss.complete = true
	ss.closeStream()
	if !f.stops(ss.cfg.failOpen) {
		if !w.sent && w.mode != extprocv3.ProcessingMode_BUFFERED && w.mode != extprocv3.ProcessingMode_BUFFERED_PARTIAL {
			w.send()
		}
		return true
	}
	if w.sent {
		w.aborted, w.swallow = true, true
		return false
	}
	w.replyWith(f)
	return false
}

func (w *respWriter) replyWith(f *failure) {
	w.ss.replied = true
	w.ss.reply(w.w, f)
	w.sent, w.swallow = true, true
}

// send writes the status downstream.
func (w *respWriter) send() {
	if !w.sent {
		w.sent = true
		w.w.WriteHeader(w.code)
	}
}

// writeBody writes a whole body with its length (Buffered, replacements).
func (w *respWriter) writeBody(b []byte) {
	w.w.Header().Set("Content-Length", itoa(len(b)))
	w.w.Header().Del("Transfer-Encoding")
	w.send()
	_, _ = w.w.Write(b)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.swallow:
		return len(b), nil
	case w.duplex != nil:
		w.duplex.send(b, false)
		return len(b), nil
	case w.mode == extprocv3.ProcessingMode_BUFFERED || w.mode == extprocv3.ProcessingMode_BUFFERED_PARTIAL:
		return w.buffer(b)
	case w.mode == extprocv3.ProcessingMode_STREAMED:
		w.ss.mu.Lock()
		out, f := w.ss.responseChunk(append([]byte(nil), b...), false)
		if f != nil && w.failed(f) {
			out = b
		}
		w.ss.mu.Unlock()
		if w.swallow {
			return len(b), nil
		}
		_, err := w.w.Write(out)
		return len(b), err
	}
	return w.w.Write(b)
}

// buffer holds the body; past MaxBody, Buffered answers 500 and
// BufferedPartial processes what it holds and streams the rest.
func (w *respWriter) buffer(b []byte) (int, error) {
	if w.buf.Len()+len(b) <= MaxBody {
		return w.buf.Write(b)
	}
	ss := w.ss
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if w.mode == extprocv3.ProcessingMode_BUFFERED {
		w.failed(&failure{code: http.StatusInternalServerError, details: "response_payload_too_large"})
		return len(b), nil
	}
	room := MaxBody - w.buf.Len()
	w.buf.Write(b[:room])
	w.flushBuffered(false)
	w.mode = extprocv3.ProcessingMode_NONE
	if !w.swallow {
		_, _ = w.w.Write(b[room:])
	}
	return len(b), nil
}

// flushBuffered processes the held body and writes the status and it.
func (w *respWriter) flushBuffered(eos bool) {
	out, f := w.ss.responseChunk(w.buf.Bytes(), eos)
	if f != nil && !w.failed(f) {
		return
	}
	if f != nil {
		out = w.buf.Bytes()
	}
	if eos {
		w.writeBody(out)
		return
	}
	w.w.Header().Del("Content-Length")
	w.send()
	_, _ = w.w.Write(out)
}

// responseChunk sends a piece of the response body and returns what goes
// downstream instead.
func (ss *session) responseChunk(chunk []byte, eos bool) ([]byte, *failure) {
	if ss.complete {
		return chunk, nil
	}
	resp, f := ss.exchange(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocsvc.HttpBody{Body: chunk, EndOfStream: eos}}})
	if f != nil || resp == nil {
		return chunk, f
	}
	switch x := resp.GetResponse().(type) {
	case *extprocsvc.ProcessingResponse_ImmediateResponse:
		return nil, &failure{immediate: x.ImmediateResponse}
	case *extprocsvc.ProcessingResponse_ResponseBody:
		applyDynamicMetadata(resp.GetDynamicMetadata(), ss.cfg.receiveNS, ss.s)
		return mutatedBody(chunk, x.ResponseBody.GetResponse().GetBodyMutation()), nil
	}
	return nil, ss.protocolFailure("spurious message")
}

// finish ends the response phases once the chain returned.
func (w *respWriter) finish() {
	ss := w.ss
	if !w.started {
		ss.mu.Lock()
		if p := ss.pending; p != nil && !ss.replied {
			w.replyWith(p)
		}
		ss.mu.Unlock()
		return
	}
	if w.duplex != nil {
		w.duplex.send(nil, true)
		w.duplex.wait()
		w.aborted = w.aborted || w.duplex.aborted
	} else {
		ss.mu.Lock()
		w.finishBody()
		ss.mu.Unlock()
	}
	if w.aborted {
		// Envoy resets a stream whose processing failed mid-response.
		panic(http.ErrAbortHandler)
	}
}

func (w *respWriter) finishBody() {
	ss := w.ss
	trailers := w.trailers()
	switch {
	case w.swallow:
		return
	case w.mode == extprocv3.ProcessingMode_BUFFERED || w.mode == extprocv3.ProcessingMode_BUFFERED_PARTIAL:
		w.flushBuffered(len(trailers) == 0)
	case w.mode == extprocv3.ProcessingMode_STREAMED && !ss.complete && len(trailers) == 0:
		out, f := ss.responseChunk(nil, true)
		if f != nil {
			w.failed(f)
			return
		}
		_, _ = w.w.Write(out)
	}
	if len(trailers) > 0 && !ss.complete && sendTrailers(ss.mode.GetResponseTrailerMode()) {
		w.responseTrailers(trailers)
	}
}

// trailers are the response trailers the chain set (net/http's
// TrailerPrefix keys), without the prefix.
func (w *respWriter) trailers() http.Header {
	var t http.Header
	for k, vs := range w.w.Header() {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = http.Header{}
			}
			t[name] = vs
		}
	}
	return t
}

func (w *respWriter) responseTrailers(t http.Header) {
	ss := w.ss
	resp, f := ss.exchange(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseTrailers{
		ResponseTrailers: &extprocsvc.HttpTrailers{Trailers: trailerMap(t)}}})
	if f == nil && resp != nil {
		x, ok := resp.GetResponse().(*extprocsvc.ProcessingResponse_ResponseTrailers)
		switch {
		case !ok:
			f = ss.protocolFailure("spurious message")
		default:
			if err := applyMutation(x.ResponseTrailers.GetHeaderMutation(), headerTarget{h: t, trailers: true}); err != nil {
				f = ss.protocolFailure(err.Error())
			}
		}
	}
	if f != nil {
		w.failed(f)
		return
	}
	h := w.w.Header()
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			delete(h, k)
		}
	}
	for k, vs := range t {
		h[http.TrailerPrefix+k] = vs
	}
}
