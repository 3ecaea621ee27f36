package lua

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	luav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// The filter follows Envoy's semantics where it matters to configs that
// Envoy Gateway generates: a disabled HCM entry runs only on routes that
// enable it per route; envoy_on_request runs before the rest of the chain,
// envoy_on_response on the response headers (or, when the script reads the
// response body or trailers, on the whole buffered response); respond()
// answers without going upstream; request header changes re-select the
// route unless clear_route_cache is false.
//
// Differences, each a choice: a script that fails at run time gets the
// request a 500 (and a log line) rather than Envoy's log-and-continue,
// since a half-run script may have skipped a check; route metadata is not
// exposed (metadata() is empty); source_codes and per-route scripts are
// rejected (NACK) rather than ignored.
func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.lua.v3.Lua"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.lua.v3.LuaPerRoute")},
		New:              newFilter,
		PerRoute:         parsePerRoute,
	})
}

// MaxBody caps what body() buffers (Envoy answers 413 past its buffer
// limit; so do we).
const MaxBody = 1 << 20

// poolSize is how many idle states a filter keeps. A state is held only
// while a script runs (not while the request waits for its upstream), so
// about as many states run at once as there are Ps; beyond this many idle
// ones they are closed. States are never shared by two requests at once.
var poolSize = max(8, 4*runtime.GOMAXPROCS(0))

type filter struct {
	name          string
	script        *Script
	onReq, onResp bool
	clearRoute    bool
	filterContext map[string]any
	pool          chan *state
	limits        Limits
	log           *slog.Logger
}

// stateBudgetCalls is how many calls' worth of memory budget a state's
// calls may be charged in all before it is closed rather than reused: a
// script that keeps what each request gives it in a global table grows its
// state without any one call going over budget.
const stateBudgetCalls = 4

type perRoute struct {
	disabled      bool
	filterContext map[string]any
}

func parsePerRoute(cfg *anypb.Any) (any, error) {
	var pr luav3.LuaPerRoute
	if err := cfg.UnmarshalTo(&pr); err != nil {
		return nil, err
	}
	out := &perRoute{}
	switch o := pr.GetOverride().(type) {
	case nil:
	case *luav3.LuaPerRoute_Disabled:
		out.disabled = o.Disabled
	default:
		return nil, fmt.Errorf("lua per-route: only disabled and filter_context are supported (not per-route scripts)")
	}
	if fc := pr.GetFilterContext(); fc != nil {
		out.filterContext = fc.AsMap()
	}
	return out, nil
}

func newFilter(name string, cfg *anypb.Any, bc filters.BuildContext) (filters.Filter, error) {
	var c luav3.Lua
	if err := cfg.UnmarshalTo(&c); err != nil {
		return nil, fmt.Errorf("lua %q: %v", name, err)
	}
	if len(c.GetSourceCodes()) > 0 || len(c.GetPackagePaths()) > 0 || len(c.GetPackageCpaths()) > 0 {
		return nil, fmt.Errorf("lua %q: source_codes and package paths are not supported", name)
	}
	code := c.GetInlineCode() //nolint:staticcheck // the deprecated field is still valid config
	if ds := c.GetDefaultSourceCode(); ds != nil {
		switch s := ds.GetSpecifier().(type) {
		case *corev3.DataSource_InlineString:
			code = s.InlineString
		case *corev3.DataSource_InlineBytes:
			code = string(s.InlineBytes)
		default:
			return nil, fmt.Errorf("lua %q: default_source_code must be inline", name)
		}
	}
	script, err := Compile(name, code)
	if err != nil {
		return nil, fmt.Errorf("lua %q: %v", name, err)
	}
	// Load once now: a script whose top level fails (or goes over its
	// budget) is a bad config (NACK), as it is for Envoy.
	st, onReq, onResp, err := script.loadState(nil, bc.LuaLimits)
	if err != nil {
		return nil, fmt.Errorf("lua %q: %v", name, err)
	}
	f := &filter{
		name: name, script: script, onReq: onReq, onResp: onResp,
		clearRoute: c.GetClearRouteCache() == nil || c.GetClearRouteCache().GetValue(),
		pool:       make(chan *state, poolSize),
		limits:     bc.LuaLimits.WithDefaults(),
		log:        slog.Default().With("filter", name),
	}
	if fc := c.GetFilterContext(); fc != nil {
		f.filterContext = fc.AsMap()
	}
	f.pool <- st
	return f, nil
}

func (f *filter) get(ctx context.Context) (*state, error) {
	select {
	case st := <-f.pool:
		return st, nil
	default:
	}
	st, _, _, err := f.script.loadState(ctx, f.limits)
	if err != nil {
		// The script loaded at config time; a later failure is a top level
		// that depends on time or randomness. Surface it.
		f.log.Error("lua: loading script failed", "error", err)
		return nil, fmt.Errorf("loading the script: %w", err)
	}
	return st, nil
}

// put returns a state to the pool, unless its last call was stopped (it
// may be half-way through anything) or its calls were charged more than
// stateBudgetCalls calls' budget in all: those are closed, and the next
// request loads a fresh state.
func (f *filter) put(st *state) {
	Violations(st.L) // reset per request
	if st.cc.aborted() || (f.limits.Memory > 0 && st.charged > stateBudgetCalls*f.limits.Memory) {
		st.L.Close()
		return
	}
	select {
	case f.pool <- st:
	default:
		st.L.Close()
	}
}

// call runs one entry point on a pooled state, under the call budget and
// bounded by the request's context.
func (f *filter) call(entry string, rs *reqStream, p *Phase) error {
	ctx := rs.s.Request.Context()
	st, err := f.get(ctx)
	if err != nil {
		return err
	}
	err = st.run(ctx, f.limits, entry, p)
	f.put(st)
	return err
}

// Serve runs the request phase, then the rest of the chain with the
// response wrapped when the script has envoy_on_response.
func (f *filter) Serve(s *filters.Stream, next filters.Next) {
	fc := f.filterContext
	if v, ok := s.PerRoute(f.name); ok {
		if pr, ok := v.(*perRoute); ok {
			if pr.disabled {
				next(s)
				return
			}
			if pr.filterContext != nil {
				fc = pr.filterContext
			}
		}
	}
	rs := newReqStream(s, fc)
	rs.f = f
	if f.onReq {
		rb := &reqBackend{common: common{rs}, rs: rs}
		p := &Phase{B: rb}
		if err := f.call(OnRequest, rs, p); err != nil {
			f.fail(s, "envoy_on_request", err, rb.bodyErr)
			return
		}
		if p.Responded {
			return
		}
		rb.commitBody()
		if rs.reqHeaders.changed && f.clearRoute {
			s.ClearRouteCache()
		}
	}
	if !f.onResp {
		next(s)
		return
	}
	w := &respWriter{ResponseWriter: s.Writer, f: f, rs: rs, buffer: f.script.BodyOnResponse}
	s.Writer = w
	next(s)
	w.finish()
}

// fail answers 500 for a script error (413 when the body was too large).
func (f *filter) fail(s *filters.Stream, entry string, err error, bodyErr error) {
	if bodyErr != nil {
		s.LocalReply(http.StatusRequestEntityTooLarge, "Payload Too Large", "request_payload_too_large")
		return
	}
	f.log.Error("lua: script error", "entry", entry, "route", s.RouteName, "error", err)
	s.LocalReply(http.StatusInternalServerError, "", "lua_script_error")
}

// respWriter runs envoy_on_response. In streaming mode it runs on
// WriteHeader; in buffer mode it holds everything until finish.
type respWriter struct {
	http.ResponseWriter
	f       *filter
	rs      *reqStream
	buffer  bool
	code    int
	started bool // WriteHeader seen
	failed  bool
	body    bytes.Buffer
}

func (w *respWriter) WriteHeader(code int) {
	if w.started {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.started, w.code = true, code
	if w.buffer {
		return
	}
	w.run(nil)
}

// run calls envoy_on_response and writes the status line (and, in buffer
// mode, the body).
func (w *respWriter) run(body []byte) {
	rb := &respBackend{common: common{w.rs}, w: w, body: body, hasBody: w.buffer}
	p := &Phase{B: rb}
	if err := w.f.call(OnResponse, w.rs, p); err != nil {
		w.failed = true
		w.f.log.Error("lua: script error", "entry", "envoy_on_response", "route", w.rs.s.RouteName, "error", err)
		h := w.ResponseWriter.Header()
		for k := range h {
			delete(h, k)
		}
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", "0")
		w.ResponseWriter.WriteHeader(http.StatusInternalServerError)
		return
	}
	if w.buffer {
		out := rb.body
		// Only a body the script replaced gets a new length: HEAD answers
		// and 204/304 keep what the upstream said.
		if rb.modified {
			w.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(len(out)))
		}
		w.ResponseWriter.WriteHeader(w.code)
		_, _ = w.ResponseWriter.Write(out)
		return
	}
	w.ResponseWriter.WriteHeader(w.code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.failed:
		return len(b), nil
	case w.buffer:
		if w.body.Len()+len(b) > MaxBody {
			w.failed = true
			return 0, fmt.Errorf("lua: response body larger than %d bytes", MaxBody)
		}
		return w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes through in streaming mode only.
func (w *respWriter) Flush() {
	if !w.buffer {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (upgrades).
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish runs the buffered response through the script.
func (w *respWriter) finish() {
	if !w.buffer || !w.started {
		return
	}
	if w.failed {
		h := w.ResponseWriter.Header()
		for k := range h {
			delete(h, k)
		}
		h.Set("Content-Length", "0")
		w.ResponseWriter.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.run(w.body.Bytes())
}

var _ io.Writer = (*respWriter)(nil)
