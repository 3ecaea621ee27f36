package lua

import (
	"strconv"
	"strings"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"
)

// The library functions below can allocate, in one Go call, many times
// what the script holds (table.concat of a thousand references to one big
// string, string.format("%s%s%s", s, s, s), string.gsub with an expanding
// replacement). A Go call runs to completion out of reach of the
// per-instruction check, so these charge the call's budget with the size
// they are about to allocate, and raise the limit error instead when it
// does not fit (see limits.go). Outside a budgeted call (the validator)
// they only run the original.

// guardLibrary installs the charging versions on a fresh state.
func guardLibrary(L *glua.LState) {
	g := L.G.Global
	if t, ok := g.RawGetString("table").(*glua.LTable); ok {
		if orig, ok := t.RawGetString("concat").(*glua.LFunction); ok {
			t.RawSetString("concat", L.NewFunction(tableConcat(orig)))
		}
	}
	if s, ok := g.RawGetString("string").(*glua.LTable); ok {
		s.RawSetString("gsub", L.NewFunction(gsub))
	}
	guardCoroutines(L)
}

// stringValueLen is how long v is as a string (numbers: at most 24).
func stringValueLen(v glua.LValue) int {
	if s, ok := v.(glua.LString); ok {
		return len(s)
	}
	return 24
}

func tableConcat(orig *glua.LFunction) glua.LGFunction {
	return func(L *glua.LState) int {
		t := L.CheckTable(1)
		sep := len(L.OptString(2, ""))
		n := t.Len()
		i := max(L.OptInt(3, 1), 1)
		j := min(L.OptInt(4, n), n)
		total := 0
		for k := i; k <= j; k++ {
			total += stringValueLen(t.RawGetInt(k)) + sep
		}
		charge(L, total)
		return forward(L, orig)
	}
}

// forward calls orig with this call's arguments and returns its results.
func forward(L *glua.LState, orig *glua.LFunction) int {
	top := L.GetTop()
	L.Push(orig)
	for i := 1; i <= top; i++ {
		L.Push(L.Get(i))
	}
	L.Call(top, glua.MultRet)
	return L.GetTop() - top
}

// formatCost bounds string.format's result: the format, each string
// argument twice (%q escapes), and 128 bytes per other directive (widths
// are capped at two digits, see stringFormat).
func formatCost(L *glua.LState) int {
	n := len(L.CheckString(1))
	for i := 2; i <= L.GetTop(); i++ {
		n += 2*stringValueLen(L.Get(i)) + 128
	}
	return n
}

// gsubBatch is how many matches gsub asks the pattern matcher for at a
// time: pm.Find returns every match at once, about 100 bytes each, which
// for a one-character pattern over a large subject is many times the
// subject.
const gsubBatch = 1024

// gsub is string.gsub with its result built in one pass and charged as it
// grows. gopher-lua's rebuilds the whole string for every match (quadratic:
// a one-character pattern over a 1 MB body would copy a terabyte), in one
// uninterruptible call. Results are the same (TestGsubMatchesGopherLua).
func gsub(L *glua.LState) int {
	str := L.CheckString(1)
	pat := L.CheckString(2)
	L.CheckTypes(3, glua.LTString, glua.LTTable, glua.LTFunction)
	repl := L.CheckAny(3)
	limit := L.OptInt(4, -1)
	charge(L, len(str))
	src := []byte(str)
	switch {
	case limit == 0:
		// gopher-lua's quirk, kept: with n = 0 the search stops unless
		// the subject's first position matches, and then has no limit.
		mds, err := pm.Find(pat, src, 0, 1)
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		if len(mds) == 0 || mds[0].Capture(0) != 0 {
			L.SetTop(1)
			L.Push(glua.LNumber(0))
			return 2
		}
		limit = -1
	case limit < 0:
		limit = -1
	}
	var out strings.Builder
	last, count := 0, 0
	for offset := 0; offset <= len(src) && limit != 0; {
		batch := gsubBatch
		if limit > 0 {
			batch = min(batch, limit)
		}
		mds, err := pm.Find(pat, src, offset, batch)
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		for _, m := range mds {
			start, end := m.Capture(0), m.Capture(1)
			if piece, ok := replacement(L, str, repl, m); ok {
				charge(L, start-last+len(piece))
				out.WriteString(str[last:start])
				out.WriteString(piece)
				last = end
			}
			offset = max(start+1, end)
		}
		count += len(mds)
		if limit > 0 {
			limit -= len(mds)
		}
		if len(mds) < batch || strings.HasPrefix(pat, "^") {
			break
		}
	}
	if count == 0 {
		L.SetTop(1)
		L.Push(glua.LNumber(0))
		return 2
	}
	charge(L, len(str)-last)
	out.WriteString(str[last:])
	L.Push(glua.LString(out.String()))
	L.Push(glua.LNumber(count))
	return 2
}

// replacement is what one match becomes; ok is false when the original
// text stays (a table or function answered nil or false).
func replacement(L *glua.LState, str string, repl glua.LValue, m *pm.MatchData) (string, bool) {
	switch r := repl.(type) {
	case glua.LString:
		return expand(L, str, string(r), m), true
	case *glua.LTable:
		idx := 0
		if m.CaptureLength() > 2 {
			idx = 2
		}
		var v glua.LValue
		if m.IsPosCapture(idx) {
			v = L.GetTable(r, glua.LNumber(m.Capture(idx)))
		} else {
			v = L.GetField(r, str[m.Capture(idx):m.Capture(idx+1)])
		}
		if glua.LVIsFalse(v) {
			return "", false
		}
		return glua.LVAsString(v), true
	case *glua.LFunction:
		L.Push(r)
		nargs := 0
		if m.CaptureLength() > 2 {
			for i := 2; i < m.CaptureLength(); i += 2 {
				L.Push(captureValue(L, str, m, i))
				nargs++
			}
		} else {
			L.Push(captureValue(L, str, m, 0))
			nargs++
		}
		L.Call(nargs, 1)
		v := L.Get(-1)
		L.Pop(1)
		if glua.LVIsFalse(v) {
			return "", false
		}
		return glua.LVAsString(v), true
	}
	return "", false
}

func captureValue(L *glua.LState, str string, m *pm.MatchData, idx int) glua.LValue {
	if m.IsPosCapture(idx) {
		return glua.LNumber(m.Capture(idx))
	}
	return glua.LString(captured(L, str, m, idx))
}

// captured is capture idx (2*n for %n) as gopher-lua's gsub reads it: %0
// and %1 without captures are the whole match.
func captured(L *glua.LState, str string, m *pm.MatchData, idx int) string {
	if idx > 2 && idx >= m.CaptureLength() {
		L.RaiseError("invalid capture index")
	}
	if idx >= m.CaptureLength() && idx == 2 {
		idx = 0
	}
	if m.IsPosCapture(idx) {
		return strconv.Itoa(m.Capture(idx))
	}
	return str[m.Capture(idx):m.Capture(idx+1)]
}

// expand applies a replacement string's %-escapes as gopher-lua does: %%
// is %, %0-%9 a capture, a lone % at the end stays, %x keeps both.
func expand(L *glua.LState, str, repl string, m *pm.MatchData) string {
	if strings.IndexByte(repl, '%') < 0 {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i == len(repl)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := repl[i]; {
		case d == '%':
			b.WriteByte('%')
		case d >= '0' && d <= '9':
			b.WriteString(captured(L, str, m, 2*int(d-'0')))
		default:
			b.WriteByte('%')
			b.WriteByte(d)
		}
	}
	return b.String()
}

// guardCoroutines makes coroutines run under the context of the call that
// resumes them. gopher-lua gives a coroutine a child of the context its
// creator had when it was created, which is not polled by our hook (and
// belongs to an earlier call when the coroutine lives in a global).
func guardCoroutines(L *glua.LState) {
	co, ok := L.G.Global.RawGetString("coroutine").(*glua.LTable)
	if !ok {
		return
	}
	create, ok1 := co.RawGetString("create").(*glua.LFunction)
	resume, ok2 := co.RawGetString("resume").(*glua.LFunction)
	if !ok1 || !ok2 {
		return
	}
	co.RawSetString("resume", L.NewFunction(func(L *glua.LState) int {
		adopt(L, L.CheckThread(1))
		return forward(L, resume)
	}))
	co.RawSetString("wrap", L.NewFunction(func(L *glua.LState) int {
		L.CheckFunction(1)
		L.Push(create)
		L.Push(L.Get(1))
		L.Call(1, 1)
		th := L.CheckThread(-1)
		L.Pop(1)
		L.Push(L.NewFunction(func(L *glua.LState) int {
			adopt(L, th)
			L.Insert(th, 1)
			top := L.GetTop()
			n := forward(L, resume)
			if !glua.LVAsBool(L.Get(top + 1)) {
				L.Error(L.Get(top+2), 0) // wrap raises what resume returns
			}
			L.Remove(top + 1)
			return n - 1
		}))
		return 1
	}))
}

func adopt(L, th *glua.LState) {
	if ctx := L.Context(); ctx != nil {
		th.SetContext(ctx)
	} else {
		th.RemoveContext()
	}
}
