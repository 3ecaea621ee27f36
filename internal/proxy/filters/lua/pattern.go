package lua

import (
	"math"

	glua "github.com/yuin/gopher-lua"
)

// MaxPatternWork bounds, in BoundPatterns states, the worst-case work of
// one string.find/match/gmatch/gsub call, estimated as len(subject) to the
// power of (quantified items + 1): Lua patterns backtrack, and a single
// library call runs to completion out of reach of any time limit, so
// `string.find(string.rep("a", 1e5), ".-.-.-.-x")` would never return.
const MaxPatternWork = 1e9

// BoundPatterns installs the bound on L's pattern functions. The validator
// uses it: its mock data is small, so only a script that builds a large
// subject and matches it with a pathological pattern is refused. The proxy
// does not (Envoy has no such bound, and real bodies are large).
func BoundPatterns(L *glua.LState) {
	s, ok := L.G.Global.RawGetString("string").(*glua.LTable)
	if !ok {
		return
	}
	for _, name := range []string{"find", "match", "gmatch", "gsub"} {
		orig, ok := s.RawGetString(name).(*glua.LFunction)
		if !ok {
			continue
		}
		s.RawSetString(name, L.NewFunction(func(L *glua.LState) int {
			subject, pattern := L.CheckString(1), L.CheckString(2)
			plain := name == "find" && glua.LVAsBool(L.Get(4))
			if !plain && patternWork(len(subject), pattern) > MaxPatternWork {
				L.RaiseError("%sstring.%s: pattern too costly for a %d-byte subject", LimitError, name, len(subject))
			}
			return forward(L, orig)
		}))
	}
}

// patternWork is n^(k+1) for k quantifiers (*, +, -) in the pattern.
func patternWork(n int, pattern string) float64 {
	k := 0
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '%':
			i++ // escaped character or class
		case '*', '+', '-':
			if i > 0 {
				k++
			}
		}
	}
	return math.Pow(float64(max(n, 1)), float64(k+1))
}
