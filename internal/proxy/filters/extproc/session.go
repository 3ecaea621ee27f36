package extproc

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/grpcstream"
)

const processMethod = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"

// errorPrefix starts the response details of every failure, as in Envoy.
const errorPrefix = "ext_proc_error"

// session is one request's conversation with the processor: one gRPC
// stream, opened by the first message and closed at the end of the
// request. Once processing is complete (the processor closed the stream,
// or failed under failure_mode_allow) the request goes on unprocessed.
type session struct {
	cfg      *config
	s        *filters.Stream
	mode     *extprocv3.ProcessingMode
	stream   *grpcstream.Stream
	complete bool
	// replied is set once the session answered the request itself.
	replied bool
	timeout time.Duration
	// inHeaders is set while a headers message waits for its answer: only
	// then may the processor override the processing mode.
	inHeaders bool
	// mu serialises the conversation once the request body streams on
	// the transport's goroutine while the response comes back.
	mu sync.Mutex
	// pending is a failure met while the body streamed upstream, which
	// the response writer answers with.
	pending *failure
}

// failure is why processing stopped. graceful is the processor closing
// the stream with status OK: Envoy then goes on without it.
type failure struct {
	code     int
	details  string
	graceful bool
	// immediate is the processor's own answer (immediate_response).
	immediate *extprocsvc.ImmediateResponse
}

func (f *failure) Error() string { return f.details }

func newSession(cfg *config, s *filters.Stream) *session {
	return &session{cfg: cfg, s: s, mode: proto.Clone(cfg.mode).(*extprocv3.ProcessingMode), timeout: cfg.messageTimeout}
}

// exchange sends a message and, unless in observability mode, waits for
// the answer.
func (ss *session) exchange(req *extprocsvc.ProcessingRequest) (*extprocsvc.ProcessingResponse, *failure) {
	ss.ensureStream()
	if f := ss.send(req); f != nil {
		return nil, f
	}
	if ss.cfg.observability {
		return nil, nil
	}
	return ss.receive()
}

// ensureStream opens the stream on first use; false once processing is
// complete.
func (ss *session) ensureStream() bool {
	if ss.complete {
		return false
	}
	if ss.stream == nil {
		ss.stream = grpcstream.Open(ss.s.Request.Context(), ss.s.Upstreams, ss.cfg.target.cluster, ss.cfg.target.authority, processMethod)
		ss.stream.SetMetadata(ss.cfg.target.metadata)
		if ss.cfg.observability {
			ss.stream.Start()
		}
	}
	return true
}

func (ss *session) send(req *extprocsvc.ProcessingRequest) *failure {
	req.ObservabilityMode = ss.cfg.observability
	if err := ss.stream.Send(req); err != nil {
		return ss.grpcFailure(err)
	}
	return nil
}

// receive waits for the next answer for message_timeout, extended by
// override_message_timeout up to max_message_timeout.
func (ss *session) receive() (*extprocsvc.ProcessingResponse, *failure) {
	timeout := ss.timeout
	for {
		var timedOut atomic.Bool
		st := ss.stream
		timer := time.AfterFunc(timeout, func() { timedOut.Store(true); st.Close() })
		resp := &extprocsvc.ProcessingResponse{}
		err := st.Recv(resp)
		// A timer that already fired is closing the stream: the answer came
		// too late even if it was read.
		late := !timer.Stop()
		switch {
		case late || (err != nil && timedOut.Load()):
			return nil, &failure{code: http.StatusGatewayTimeout, details: errorPrefix + "_per-message_timeout_exceeded"}
		case errors.Is(err, io.EOF):
			return nil, &failure{graceful: true}
		case err != nil:
			return nil, ss.grpcFailure(err)
		}
		if o := resp.GetOverrideMessageTimeout(); o != nil {
			// Honoured only up to max_message_timeout (none: ignored).
			if ss.cfg.maxMessageTimeout > 0 {
				timeout = min(o.AsDuration(), ss.cfg.maxMessageTimeout)
			}
			continue
		}
		return resp, nil
	}
}

func (ss *session) grpcFailure(err error) *failure {
	return &failure{code: ss.cfg.statusOnError, details: errorPrefix + "_gRPC_error_" + grpcstream.Describe(err)}
}

// protocolFailure is an answer that breaks the protocol (the wrong kind,
// an invalid mutation): Envoy answers status_on_error.
func (ss *session) protocolFailure(msg string) *failure {
	return &failure{code: ss.cfg.statusOnError, details: errorPrefix + "_" + strings.ReplaceAll(msg, " ", "_")}
}

// fail ends processing. It reports whether the request must stop (the
// failure was answered); otherwise it goes on unprocessed.
func (ss *session) fail(f *failure) bool {
	ss.complete = true
	ss.closeStream()
	if !f.stops(ss.cfg.failOpen) {
		return false
	}
	if !ss.replied {
		ss.replied = true
		ss.reply(ss.s.Writer, f)
	}
	return true
}

// stops reports whether a failure ends the request.
func (f *failure) stops(failOpen bool) bool {
	return f.immediate != nil || !(f.graceful || failOpen)
}

// reply answers the request with a failure: the processor's immediate
// response, or a local reply with Envoy's status and details.
func (ss *session) reply(w http.ResponseWriter, f *failure) {
	if f.immediate == nil {
		if w == ss.s.Writer {
			ss.s.LocalReply(f.code, "", f.details)
			return
		}
		h := w.Header()
		clear(h)
		h.Set("Content-Length", "0")
		w.WriteHeader(f.code)
		return
	}
	ir := f.immediate
	code := int(ir.GetStatus().GetCode())
	if code < 200 || code > 599 {
		code = http.StatusOK // Envoy's default for a missing or invalid status
	}
	h := w.Header()
	clear(h)
	// An invalid mutation of the reply's headers is dropped, as in Envoy.
	_ = applyMutation(ir.GetHeaders(), headerTarget{h: h})
	if len(ir.GetBody()) > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain")
	}
	h.Set("Content-Length", itoa(len(ir.GetBody())))
	w.WriteHeader(code)
	_, _ = w.Write(ir.GetBody())
}

func itoa(n int) string { return strconv.Itoa(n) }

// closeStream half-closes the stream and lets the processor end it (its
// status is of no further interest), then frees it.
func (ss *session) closeStream() {
	st := ss.stream
	if st == nil {
		return
	}
	ss.stream = nil
	st.CloseSend()
	if !ss.cfg.observability {
		timer := time.AfterFunc(ss.timeout, st.Close)
		var discard extprocsvc.ProcessingResponse
		for st.Recv(&discard) == nil {
		}
		timer.Stop()
		st.Close()
		return
	}
	// Observability mode: the processor reads at its pace; the call is
	// reset after Envoy's deferred close timeout.
	time.AfterFunc(deferredClose, st.Close)
}

// deferredClose is Envoy's deferred_close_timeout default.
const deferredClose = 5 * time.Second

// allowOverride applies a mode_override from an answer to headers, as
// Envoy does: only with allow_mode_override, never in full duplex mode,
// and only to a mode allowed_override_modes lists (when it lists any).
func (ss *session) allowOverride(o *extprocv3.ProcessingMode) {
	if o == nil || !ss.cfg.allowModeOverride || !ss.inHeaders ||
		ss.cfg.mode.GetRequestBodyMode() == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED ||
		ss.cfg.mode.GetResponseBodyMode() == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED {
		return
	}
	if len(ss.cfg.allowedOverrides) > 0 {
		ok := false
		for _, a := range ss.cfg.allowedOverrides {
			if a.GetRequestBodyMode() == o.GetRequestBodyMode() && a.GetRequestTrailerMode() == o.GetRequestTrailerMode() &&
				a.GetResponseHeaderMode() == o.GetResponseHeaderMode() && a.GetResponseBodyMode() == o.GetResponseBodyMode() &&
				a.GetResponseTrailerMode() == o.GetResponseTrailerMode() {
				ok = true
			}
		}
		if !ok {
			return
		}
	}
	// The request header mode cannot change once the headers were sent.
	m := proto.Clone(o).(*extprocv3.ProcessingMode)
	m.RequestHeaderMode = ss.mode.GetRequestHeaderMode()
	ss.mode = m
}

// Modes, with Envoy's meaning of DEFAULT: headers are sent, trailers not.
func sendHeaders(m extprocv3.ProcessingMode_HeaderSendMode) bool {
	return m != extprocv3.ProcessingMode_SKIP
}

func sendTrailers(m extprocv3.ProcessingMode_HeaderSendMode) bool {
	return m == extprocv3.ProcessingMode_SEND
}
