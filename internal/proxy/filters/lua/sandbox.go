// Package lua is the built-in proxy's envoy.filters.http.lua: Envoy's Lua
// stream handle API on github.com/yuin/gopher-lua (Lua 5.1, like Envoy's
// LuaJIT).
//
// The same sandbox and handle API serve two callers: the proxy filter
// (filter.go), bound to a live request, and the control plane's validator
// (internal/luavalidate), bound to a mock stream. A script that validates
// therefore uses exactly the API the proxy serves.
package lua

import (
	"fmt"
	"strings"

	glua "github.com/yuin/gopher-lua"

	"github.com/portico-gw/portico/internal/proxy/budget"
)

// Forbidden globals and why. Envoy opens every standard library; Portico
// does not open io, debug and package at all, and removes the functions
// below, because a gateway script has no business reading files, the
// environment or loading code at run time.
var forbiddenGlobals = map[string]string{
	"io":         "file access",
	"debug":      "the debug library",
	"package":    "module loading",
	"require":    "module loading",
	"module":     "module loading",
	"dofile":     "file access",
	"loadfile":   "file access",
	"load":       "loading code at run time",
	"loadstring": "loading code at run time",
	"setfenv":    "changing function environments",
	"getfenv":    "reading function environments",
	"newproxy":   "undocumented internals",
	"_printregs": "undocumented internals",
}

// forbiddenOS are the os functions removed; os.time, os.clock, os.date and
// os.difftime stay (Envoy's documented examples use them).
var forbiddenOS = map[string]string{
	"execute":   "running commands",
	"exit":      "exiting the proxy",
	"getenv":    "environment reads",
	"setenv":    "environment writes",
	"remove":    "file access",
	"rename":    "file access",
	"tmpname":   "file access",
	"setlocale": "process-wide locale changes",
}

// ForbiddenNames lists what the sandbox denies ("io", "os.execute", ...),
// for the validator's static check and for documentation.
func ForbiddenNames() map[string]string {
	out := map[string]string{}
	for k, v := range forbiddenGlobals {
		out[k] = v
	}
	for k, v := range forbiddenOS {
		out["os."+k] = v
	}
	out["string.dump"] = "dumping bytecode"
	return out
}

// MaxStringRep caps string.rep's result: a one-liner must not be able to
// allocate gigabytes.
const MaxStringRep = 16 << 20

// Violation is raised (as the Lua error value's text prefix) when a script
// touches something the sandbox denies.
const Violation = "sandbox violation: "

// LimitError prefixes errors raised when a script exceeds a resource cap
// (the sandbox's caps and the call budget's, see limits.go).
const LimitError = budget.Prefix

// violations counts sandbox violations per state even when the script
// catches the error with pcall, so the validator cannot be fooled.
type stateInfo struct {
	violations []string
}

const stateInfoKey = "__portico_state"

func info(L *glua.LState) *stateInfo {
	if ud, ok := L.GetField(L.Get(glua.RegistryIndex), stateInfoKey).(*glua.LUserData); ok {
		if si, ok := ud.Value.(*stateInfo); ok {
			return si
		}
	}
	return &stateInfo{}
}

// Violations returns (and clears) the sandbox violations seen by L.
func Violations(L *glua.LState) []string {
	si := info(L)
	v := si.violations
	si.violations = nil
	return v
}

func violate(L *glua.LState, what, why string) {
	si := info(L)
	msg := fmt.Sprintf("%s'%s' is not allowed (%s)", Violation, what, why)
	si.violations = append(si.violations, msg)
	L.RaiseError("%s", msg)
}

// NewState builds a sandboxed Lua state with the handle API's metatables
// registered. Globals are the safe parts of base, string, table, math,
// coroutine and os; reading a forbidden name raises a violation.
func NewState() *glua.LState {
	L := glua.NewState(glua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       256,
		RegistrySize:        1024 * 4,
		RegistryMaxSize:     1024 * 256,
		MinimizeStackMemory: true,
	})
	ud := L.NewUserData()
	ud.Value = &stateInfo{}
	L.SetField(L.Get(glua.RegistryIndex), stateInfoKey, ud)
	for _, lib := range []struct {
		name string
		fn   glua.LGFunction
	}{
		{glua.BaseLibName, glua.OpenBase},
		{glua.TabLibName, glua.OpenTable},
		{glua.StringLibName, glua.OpenString},
		{glua.MathLibName, glua.OpenMath},
		{glua.CoroutineLibName, glua.OpenCoroutine},
		{glua.OsLibName, glua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for name := range forbiddenGlobals {
		g.RawSetString(name, glua.LNil)
	}
	if os, ok := g.RawGetString("os").(*glua.LTable); ok {
		for name := range forbiddenOS {
			os.RawSetString(name, glua.LNil)
		}
		guard(L, os, "os.", forbiddenOS)
	}
	guard(L, g, "", forbiddenGlobals)
	if s, ok := g.RawGetString("string").(*glua.LTable); ok {
		s.RawSetString("dump", glua.LNil)
		s.RawSetString("rep", L.NewFunction(stringRep))
		if orig, ok := s.RawGetString("format").(*glua.LFunction); ok {
			s.RawSetString("format", L.NewFunction(stringFormat(orig)))
		}
		if orig, ok := s.RawGetString("byte").(*glua.LFunction); ok {
			s.RawSetString("byte", L.NewFunction(limitResults(orig, "string slice too long", func(L *glua.LState) int {
				n := len(L.CheckString(1))
				i := L.OptInt(2, 1)
				j := L.OptInt(3, i)
				if i < 0 {
					i += n + 1
				}
				if j < 0 {
					j += n + 1
				}
				return j - max(i, 1) + 1
			})))
		}
	}
	if orig, ok := g.RawGetString("unpack").(*glua.LFunction); ok {
		g.RawSetString("unpack", L.NewFunction(limitResults(orig, "too many results to unpack", func(L *glua.LState) int {
			t := L.CheckTable(1)
			return L.OptInt(3, t.Len()) - L.OptInt(2, 1) + 1
		})))
	}
	// collectgarbage("collect") would run Go's collector for the whole
	// proxy on every call; it reports zero and does nothing.
	g.RawSetString("collectgarbage", L.NewFunction(func(L *glua.LState) int {
		L.Push(glua.LNumber(0))
		return 1
	}))
	g.RawSetString("pairs", L.NewFunction(pairs))
	guardLibrary(L)
	registerAPI(L)
	return L
}

// guard makes reads of denied names in t raise a violation (rawget still
// sees nil, which is harmless).
func guard(L *glua.LState, t *glua.LTable, prefix string, denied map[string]string) {
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *glua.LState) int {
		if k, ok := L.Get(2).(glua.LString); ok {
			if why, bad := denied[string(k)]; bad {
				violate(L, prefix+string(k), why)
			}
		}
		L.Push(glua.LNil)
		return 1
	}))
	L.SetMetatable(t, mt)
}

func stringRep(L *glua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || s == "" {
		L.Push(glua.LString(""))
		return 1
	}
	if len(s)*n > MaxStringRep || n > MaxStringRep {
		L.RaiseError("%sstring.rep result larger than %d bytes", LimitError, MaxStringRep)
	}
	charge(L, len(s)*n)
	L.Push(glua.LString(strings.Repeat(s, n)))
	return 1
}

// pairs honours a __pairs metamethod (Lua 5.2, which Envoy's LuaJIT build
// supports and its headers and metadata objects rely on).
func pairs(L *glua.LState) int {
	v := L.CheckAny(1)
	if mm := L.GetMetaField(v, "__pairs"); mm != glua.LNil {
		L.Push(mm)
		L.Push(v)
		L.Call(1, 3)
		return 3
	}
	tb := L.CheckTable(1)
	L.Push(L.NewFunction(next))
	L.Push(tb)
	L.Push(glua.LNil)
	return 3
}

func next(L *glua.LState) int {
	tb := L.CheckTable(1)
	k, v := tb.Next(L.Get(2))
	if k == glua.LNil {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(v)
	return 2
}

// stringFormat enforces Lua 5.1's (and LuaJIT's) limit of two digits for a
// width or precision, which gopher-lua does not: "%999999999d" would
// allocate a gigabyte in one call, before any limit could react.
func stringFormat(orig *glua.LFunction) glua.LGFunction {
	return func(L *glua.LState) int {
		f := L.CheckString(1)
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				continue
			}
			i++
			if i < len(f) && f[i] == '%' {
				continue
			}
			for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
				i++
			}
			for _, part := range []bool{false, true} {
				if part {
					if i >= len(f) || f[i] != '.' {
						break
					}
					i++
				}
				n := 0
				for i < len(f) && f[i] >= '0' && f[i] <= '9' {
					i++
					n++
				}
				if n > 2 {
					L.RaiseError("%sinvalid format (width or precision too long)", LimitError)
				}
			}
		}
		charge(L, formatCost(L))
		return forward(L, orig)
	}
}

// MaxResults is Lua 5.1's limit on the values one call may return
// (LUAI_MAXCSTACK); gopher-lua has none, and unpack({}, 1, 1e8) would spin
// for a minute inside one Go call, out of reach of any time limit.
const MaxResults = 8000

// limitResults wraps a library function whose result count count(L)
// computes from its arguments.
func limitResults(orig *glua.LFunction, msg string, count func(L *glua.LState) int) glua.LGFunction {
	return func(L *glua.LState) int {
		if count(L) > MaxResults {
			L.RaiseError("%s%s", LimitError, msg)
		}
		return forward(L, orig)
	}
}
