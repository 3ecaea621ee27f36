// Package extproc is the built-in proxy's envoy.filters.http.ext_proc:
// each request that reaches it talks to an external processor over one
// bidirectional gRPC stream (envoy.service.ext_proc.v3), opened on the
// processor's cluster through filters.Upstreams (HTTP/2, the cluster's TLS,
// unix socket endpoints).
//
// What it does, as Envoy does: request and response headers, bodies in
// every mode (None, Buffered, BufferedPartial, Streamed, FullDuplexStreamed)
// and trailers as the processing mode says; header mutations (set, append,
// remove, raw_value) under Envoy's default mutation rules, body mutations,
// immediate_response, clear_route_cache, mode_override when allowed (and
// allowed_override_modes), dynamic metadata in and out, attributes,
// message_timeout and override_message_timeout, failure_mode_allow,
// observability_mode and status_on_error. A processor that is slow gets
// the request a 504 (ext_proc_error_per-message_timeout_exceeded); one
// that is down, resets the stream, sends garbage or breaks the protocol
// gets status_on_error (500 by default) with Envoy's details; one that
// ends the stream with status OK lets the request go on unprocessed, as
// Envoy does. failure_mode_allow turns every failure into "go on
// unprocessed".
//
// Deliberate differences: the buffered modes hold at most MaxBody (Envoy:
// the listener's buffer limit); http_service, mutation_rules, forward_rules
// and the other fields outside supportedFields are NACKed rather than
// ignored.
package extproc

import (
	"fmt"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute")},
		New:              newFilter,
		PerRoute:         parsePerRoute,
	})
}

type filter struct {
	cfg *config
}

func newFilter(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
	c, err := parseConfig(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("ext_proc %q: %v", name, err)
	}
	return &filter{cfg: c}, nil
}

// Serve runs the request phases, then the rest of the chain with the
// response phases around it.
func (f *filter) Serve(s *filters.Stream, next filters.Next) {
	cfg := f.cfg
	if v, ok := s.PerRoute(cfg.name); ok {
		if pr, ok := v.(*perRoute); ok {
			if pr.disabled {
				next(s)
				return
			}
			cfg = cfg.effective(pr)
		}
	}
	if !sendsAnything(cfg.mode) {
		next(s) // nothing to send: no stream, as in Envoy
		return
	}
	ss := newSession(cfg, s)
	defer ss.end()
	if !ss.onRequest() {
		return
	}
	if !ss.needsResponseWriter() {
		next(s)
		return
	}
	w := &respWriter{w: s.Writer, ss: ss}
	s.Writer = w
	next(s)
	w.finish()
}

// sendsAnything reports whether a mode sends any message at all.
func sendsAnything(m *extprocv3.ProcessingMode) bool {
	return sendHeaders(m.GetRequestHeaderMode()) || sendHeaders(m.GetResponseHeaderMode()) ||
		m.GetRequestBodyMode() != extprocv3.ProcessingMode_NONE || m.GetResponseBodyMode() != extprocv3.ProcessingMode_NONE ||
		sendTrailers(m.GetRequestTrailerMode()) || sendTrailers(m.GetResponseTrailerMode())
}

// needsResponseWriter: the response has phases, or a streaming request
// body may fail and need an answer.
func (ss *session) needsResponseWriter() bool {
	if ss.complete && ss.pending == nil {
		return false
	}
	m := ss.mode
	return sendHeaders(m.GetResponseHeaderMode()) || m.GetResponseBodyMode() != extprocv3.ProcessingMode_NONE ||
		sendTrailers(m.GetResponseTrailerMode()) || m.GetRequestBodyMode() == extprocv3.ProcessingMode_STREAMED ||
		m.GetRequestBodyMode() == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED || sendTrailers(m.GetRequestTrailerMode())
}

// end closes the stream when the request is done.
func (ss *session) end() {
	ss.mu.Lock()
	ss.closeStream()
	ss.mu.Unlock()
}
