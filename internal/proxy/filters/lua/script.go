package lua

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Entry points Envoy calls.
const (
	OnRequest  = "envoy_on_request"
	OnResponse = "envoy_on_response"
)

// Script is a compiled script: parsed once, loaded into as many states as
// there are concurrent streams.
type Script struct {
	Name  string
	Code  string
	proto *glua.FunctionProto
	// BodyOnResponse is true when the script may read the response body or
	// trailers, which makes the proxy buffer the response before running
	// envoy_on_response (otherwise it runs on the response headers and the
	// body streams through).
	BodyOnResponse bool
}

// bodyUse spots body(), bodyChunks() and trailers() method calls (h:body()
// or h.body(h)). A false positive only costs buffering; a miss is only
// possible by calling the method through a computed name.
var bodyUse = regexp.MustCompile(`[:.]\s*(body|bodyChunks|trailers)\s*\(`)

// Compile parses and compiles code. Syntax errors read like Envoy
// Gateway's: `<name> line:3(column:3) near 'end': syntax error`.
func Compile(name, code string) (*Script, error) {
	chunk, err := parse.Parse(strings.NewReader(code), name)
	if err != nil {
		return nil, errors.New(CleanError(err.Error()))
	}
	proto, err := glua.Compile(chunk, name)
	if err != nil {
		return nil, errors.New(CleanError(err.Error()))
	}
	return &Script{Name: name, Code: code, proto: proto, BodyOnResponse: bodyUse.MatchString(code)}, nil
}

// CleanError collapses gopher-lua's padding and trailing newlines.
func CleanError(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Load builds a sandboxed state with the script's top level run (globals
// defined), and reports which entry points it defines. Envoy runs the top
// level once per worker when it loads the filter; so do we, per state.
// A non-nil ctx bounds the run (the validator's time and memory limits).
func (s *Script) Load(ctx context.Context) (L *glua.LState, onRequest, onResponse bool, err error) {
	return s.LoadWith(ctx, nil)
}

// LoadWith is Load with prepare run on the fresh state before the script's
// top level (the validator bounds pattern functions there).
func (s *Script) LoadWith(ctx context.Context, prepare func(*glua.LState)) (L *glua.LState, onRequest, onResponse bool, err error) {
	L = NewState()
	if prepare != nil {
		prepare(L)
	}
	if ctx != nil {
		L.SetContext(ctx)
	}
	L.Push(L.NewFunctionFromProto(s.proto))
	if err := L.PCall(0, 0, nil); err != nil {
		L.Close()
		return nil, false, false, errors.New(CleanError(errText(err)))
	}
	_, onRequest = L.GetGlobal(OnRequest).(*glua.LFunction)
	_, onResponse = L.GetGlobal(OnResponse).(*glua.LFunction)
	if !onRequest && !onResponse {
		L.Close()
		return nil, false, false, fmt.Errorf("the script defines neither %s nor %s", OnRequest, OnResponse)
	}
	return L, onRequest, onResponse, nil
}

// state is a loaded script with the context its calls run under.
type state struct {
	L  *glua.LState
	cc *callContext
	// charged is what its calls were charged in all (see filter.put).
	charged int64
}

// loadState builds a state for the proxy, its top level run under limits
// (a top level that loops forever is a limit error, not a hung config
// load). parent is the request that needs the state, if any.
func (s *Script) loadState(parent context.Context, limits Limits) (st *state, onRequest, onResponse bool, err error) {
	cc := newCallContext()
	cc.start(parent, limits)
	L, onRequest, onResponse, err := s.LoadWith(cc, func(L *glua.LState) { cc.L = L })
	charged := cc.stop()
	if cc.aborted() {
		if L != nil {
			L.Close()
		}
		return nil, false, false, cc.err
	}
	if err != nil {
		return nil, false, false, err
	}
	L.RemoveContext()
	return &state{L: L, cc: cc, charged: charged}, onRequest, onResponse, nil
}

// run calls entry on the state under limits, bounded by ctx too (a client
// that goes away stops a runaway script). A call stopped by its budget
// returns the limit error even if the script caught it with pcall.
func (st *state) run(ctx context.Context, limits Limits, entry string, p *Phase) error {
	st.cc.start(ctx, limits)
	st.L.SetContext(st.cc)
	err := Call(st.L, entry, p)
	st.L.RemoveContext()
	st.charged += st.cc.stop()
	if p.Responded {
		return nil
	}
	return callError(st.cc, err)
}

// Call runs entry (OnRequest or OnResponse) with a handle on p. A script
// that responded returns nil with p.Responded set.
func Call(L *glua.LState, entry string, p *Phase) error {
	fn, ok := L.GetGlobal(entry).(*glua.LFunction)
	if !ok {
		return nil
	}
	L.Push(fn)
	L.Push(NewHandle(L, p))
	err := L.PCall(1, 0, nil)
	if p.Responded {
		return nil
	}
	if err != nil {
		return errors.New(CleanError(errText(err)))
	}
	return nil
}

// errText is the Lua error without gopher-lua's Go stack trace.
func errText(err error) string {
	var ae *glua.ApiError
	if errors.As(err, &ae) && ae.Object != nil {
		return ae.Object.String()
	}
	return err.Error()
}
