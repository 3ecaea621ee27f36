package extproc

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// MaxBody is the most a buffered mode holds (Buffered answers 413 past it,
// BufferedPartial sends what it holds and streams the rest unprocessed).
// Envoy's limit is the listener's buffer limit; Portico's is fixed.
const MaxBody = 1 << 20

// errProcessing aborts an upstream request whose body processing failed;
// the response writer then answers with the failure.
var errProcessing = errors.New("ext_proc: request body processing failed")

// onRequest runs the request header phase and sets up the body phase. It
// returns false when the session answered the request itself.
func (ss *session) onRequest() bool {
	r := ss.s.Request
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if sendHeaders(ss.mode.GetRequestHeaderMode()) {
		ss.inHeaders = true
		resp, f := ss.exchange(&extprocsvc.ProcessingRequest{
			Request: &extprocsvc.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvc.HttpHeaders{
				Headers: requestHeaderMap(r), EndOfStream: !hasBody}},
			Attributes:      attributes(ss.cfg.reqAttrs, ss.s, 0, nil),
			MetadataContext: metadataContext(ss.cfg.forwardNS, ss.s),
		})
		ss.inHeaders = false
		if f != nil {
			return !ss.fail(f)
		}
		if resp != nil && !ss.onRequestHeaders(resp) {
			return false
		}
	}
	if ss.complete || !hasBody {
		return true
	}
	return ss.setupRequestBody()
}

// onRequestHeaders applies the answer to the request headers.
func (ss *session) onRequestHeaders(resp *extprocsvc.ProcessingResponse) bool {
	switch x := resp.GetResponse().(type) {
	case *extprocsvc.ProcessingResponse_ImmediateResponse:
		return !ss.fail(&failure{immediate: x.ImmediateResponse})
	case *extprocsvc.ProcessingResponse_RequestHeaders:
		applyDynamicMetadata(resp.GetDynamicMetadata(), ss.cfg.receiveNS, ss.s)
		ss.inHeaders = true
		ss.allowOverride(resp.GetModeOverride())
		ss.inHeaders = false
		cr := x.RequestHeaders.GetResponse()
		if err := ss.applyRequestCommon(cr); err != nil {
			return !ss.fail(ss.protocolFailure(err.Error()))
		}
		if cr.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE {
			ss.replaceRequestBody(cr.GetBodyMutation())
		}
		return true
	}
	return !ss.fail(ss.protocolFailure("spurious message"))
}

// applyRequestCommon applies the header mutation of an answer on the
// request side and re-selects the route when asked to.
func (ss *session) applyRequestCommon(cr *extprocsvc.CommonResponse) error {
	r := ss.s.Request
	if err := applyMutation(cr.GetHeaderMutation(), headerTarget{h: r.Header, setPath: requestPath(r)}); err != nil {
		return err
	}
	changed := len(cr.GetHeaderMutation().GetSetHeaders()) > 0 || len(cr.GetHeaderMutation().GetRemoveHeaders()) > 0
	clear := false
	switch ss.cfg.routeCache {
	case extprocv3.ExternalProcessor_CLEAR:
		clear = changed
	case extprocv3.ExternalProcessor_RETAIN:
	default:
		clear = cr.GetClearRouteCache() && !ss.cfg.noClear
	}
	if clear && ss.s.ClearRouteCache != nil {
		ss.s.ClearRouteCache()
	}
	return nil
}

// replaceRequestBody is CONTINUE_AND_REPLACE on the request headers: the
// body becomes the mutation's and no more of it is processed.
func (ss *session) replaceRequestBody(m *extprocsvc.BodyMutation) {
	r := ss.s.Request
	body := mutatedBody(nil, m)
	if r.Body != nil {
		_ = r.Body.Close()
	}
	setRequestBody(r, body)
	ss.mode.RequestBodyMode = extprocv3.ProcessingMode_NONE
}

func setRequestBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	if len(body) == 0 {
		r.Body = http.NoBody
	}
	r.Header.Set("Content-Length", itoa(len(body)))
}

// mutatedBody applies a body mutation to a body (or chunk).
func mutatedBody(body []byte, m *extprocsvc.BodyMutation) []byte {
	switch x := m.GetMutation().(type) {
	case *extprocsvc.BodyMutation_Body:
		return x.Body
	case *extprocsvc.BodyMutation_ClearBody:
		if x.ClearBody {
			return nil
		}
	}
	return body
}

// setupRequestBody sets up the body phase of the mode: buffered modes
// run here, streaming ones as the router reads the body.
func (ss *session) setupRequestBody() bool {
	r := ss.s.Request
	switch ss.mode.GetRequestBodyMode() {
	case extprocv3.ProcessingMode_BUFFERED, extprocv3.ProcessingMode_BUFFERED_PARTIAL:
		return ss.bufferedRequestBody(ss.mode.GetRequestBodyMode() == extprocv3.ProcessingMode_BUFFERED_PARTIAL)
	case extprocv3.ProcessingMode_STREAMED:
		r.Body = &streamedBody{ss: ss, src: r.Body, buf: make([]byte, 32<<10)}
	case extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED:
		r.Body = &duplexBody{ss: ss, src: r.Body}
	default:
		if sendTrailers(ss.mode.GetRequestTrailerMode()) {
			r.Body = &trailerBody{ss: ss, src: r.Body}
		}
		return true
	}
	// The processor may change the size of what streams through.
	r.ContentLength = -1
	r.Header.Del("Content-Length")
	return true
}

func (ss *session) bufferedRequestBody(partial bool) bool {
	r := ss.s.Request
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return !ss.fail(&failure{code: http.StatusBadRequest, details: "downstream_body_read_failed"})
	}
	complete := len(body) <= MaxBody
	if !complete && !partial {
		ss.complete, ss.replied = true, true
		ss.closeStream()
		ss.s.LocalReply(http.StatusRequestEntityTooLarge, "Payload Too Large", "request_payload_too_large")
		return false
	}
	var extra []byte
	if !complete {
		body, extra = body[:MaxBody], body[MaxBody:]
	}
	out, f := ss.requestChunk(body, complete)
	if f != nil {
		return !ss.fail(f)
	}
	if complete {
		setRequestBody(r, out)
		if len(r.Trailer) > 0 {
			// Trailers came with the body: processed now, as Envoy does.
			if f := ss.requestTrailers(); f != nil {
				return !ss.fail(f)
			}
		}
		return true
	}
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(out), bytes.NewReader(extra), rest), rest}
	r.ContentLength = -1
	r.Header.Del("Content-Length")
	return true
}

// requestChunk sends a piece of the request body and returns what goes
// upstream instead. After processing completed (the processor left, or
// failed with failure_mode_allow) chunks pass unchanged.
func (ss *session) requestChunk(chunk []byte, eos bool) ([]byte, *failure) {
	if ss.complete {
		return chunk, nil
	}
	resp, f := ss.exchange(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestBody{
		RequestBody: &extprocsvc.HttpBody{Body: chunk, EndOfStream: eos}}})
	if f != nil || resp == nil {
		return chunk, f
	}
	switch x := resp.GetResponse().(type) {
	case *extprocsvc.ProcessingResponse_ImmediateResponse:
		return nil, &failure{immediate: x.ImmediateResponse}
	case *extprocsvc.ProcessingResponse_RequestBody:
		applyDynamicMetadata(resp.GetDynamicMetadata(), ss.cfg.receiveNS, ss.s)
		cr := x.RequestBody.GetResponse()
		if err := applyMutation(cr.GetHeaderMutation(), headerTarget{h: ss.s.Request.Header, setPath: requestPath(ss.s.Request)}); err != nil {
			return nil, ss.protocolFailure(err.Error())
		}
		return mutatedBody(chunk, cr.GetBodyMutation()), nil
	}
	return nil, ss.protocolFailure("spurious message")
}

// requestTrailers sends the request trailers and applies the answer.
func (ss *session) requestTrailers() *failure {
	r := ss.s.Request
	if ss.complete || !sendTrailers(ss.mode.GetRequestTrailerMode()) || len(r.Trailer) == 0 {
		return nil
	}
	resp, f := ss.exchange(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestTrailers{
		RequestTrailers: &extprocsvc.HttpTrailers{Trailers: trailerMap(r.Trailer)}}})
	if f != nil || resp == nil {
		return f
	}
	x, ok := resp.GetResponse().(*extprocsvc.ProcessingResponse_RequestTrailers)
	if !ok {
		return ss.protocolFailure("spurious message")
	}
	if err := applyMutation(x.RequestTrailers.GetHeaderMutation(), headerTarget{h: r.Trailer, trailers: true}); err != nil {
		return ss.protocolFailure(err.Error())
	}
	return nil
}
