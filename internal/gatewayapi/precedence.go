package gatewayapi

import (
	"sort"

	"github.com/portico-gw/portico/internal/ir"
)

// sortRoutes orders a listener's routes by Gateway API match precedence,
// since Envoy takes the first route that matches: exact paths, then regular
// expressions, then prefixes longest first; then more header matches, then
// more query parameter matches. The stable sort keeps creation order (and
// rule order) for ties, which is the tie-break Gateway API prescribes.
func sortRoutes(routes []*ir.HTTPRoute) {
	sort.SliceStable(routes, func(i, j int) bool {
		a, b := routes[i], routes[j]
		if ka, kb := pathKind(a.PathMatch), pathKind(b.PathMatch); ka != kb {
			return ka < kb
		}
		if la, lb := pathLen(a.PathMatch), pathLen(b.PathMatch); la != lb {
			return la > lb
		}
		if ma, mb := hasMethod(a), hasMethod(b); ma != mb {
			return ma
		}
		if len(a.HeaderMatches) != len(b.HeaderMatches) {
			return len(a.HeaderMatches) > len(b.HeaderMatches)
		}
		return len(a.QueryParamMatches) > len(b.QueryParamMatches)
	})
}

func pathKind(m *ir.StringMatch) int {
	switch {
	case m == nil:
		return 3
	case m.Exact != nil:
		return 0
	case m.SafeRegex != nil:
		return 1
	default:
		return 2
	}
}

func pathLen(m *ir.StringMatch) int {
	switch {
	case m == nil:
		return 0
	case m.Exact != nil:
		return len(*m.Exact)
	case m.SafeRegex != nil:
		return len(*m.SafeRegex)
	case m.Prefix != nil:
		return len(*m.Prefix)
	}
	return 0
}

func hasMethod(r *ir.HTTPRoute) bool {
	for _, h := range r.HeaderMatches {
		if h.Name == ":method" {
			return true
		}
	}
	return false
}
