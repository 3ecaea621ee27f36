// Package match compiles Envoy's string, header and query-parameter matchers
// (envoy.type.matcher.v3 and envoy.config.route.v3) into small predicates.
//
// Compilation happens once per xDS update so that a bad regex or an unknown
// matcher kind is reported as a NACK, never discovered on the request path.
package match

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// String is a compiled envoy.type.matcher.v3.StringMatcher.
type String func(s string) bool

// CompileRegex compiles a RegexMatcher. Envoy's safe_regex is RE2 and always
// a full match, which Go's regexp (also RE2) gives us with anchors.
func CompileRegex(m *matcherv3.RegexMatcher) (*regexp.Regexp, error) {
	if m == nil {
		return nil, fmt.Errorf("regex matcher is empty")
	}
	re, err := regexp.Compile("^(?:" + m.GetRegex() + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regex %q: %v", m.GetRegex(), err)
	}
	return re, nil
}

// CompileString compiles a StringMatcher.
func CompileString(m *matcherv3.StringMatcher) (String, error) {
	if m == nil {
		return nil, fmt.Errorf("string matcher is empty")
	}
	ic := m.GetIgnoreCase()
	norm := func(s string) string {
		if ic {
			return strings.ToLower(s)
		}
		return s
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		want := norm(p.Exact)
		return func(s string) bool { return norm(s) == want }, nil
	case *matcherv3.StringMatcher_Prefix:
		want := norm(p.Prefix)
		return func(s string) bool { return strings.HasPrefix(norm(s), want) }, nil
	case *matcherv3.StringMatcher_Suffix:
		want := norm(p.Suffix)
		return func(s string) bool { return strings.HasSuffix(norm(s), want) }, nil
	case *matcherv3.StringMatcher_Contains:
		want := norm(p.Contains)
		return func(s string) bool { return strings.Contains(norm(s), want) }, nil
	case *matcherv3.StringMatcher_SafeRegex:
		// ignore_case does not apply to regexes in Envoy.
		re, err := CompileRegex(p.SafeRegex)
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	default:
		return nil, fmt.Errorf("unsupported string matcher %T", p)
	}
}

// Header is a compiled envoy.config.route.v3.HeaderMatcher.
type Header struct {
	name       string // canonical header name or pseudo-header (":path")
	invert     bool
	missingAsE bool // treat_missing_header_as_empty
	present    *bool
	fn         String
}

// CompileHeader compiles a HeaderMatcher.
func CompileHeader(m *routev3.HeaderMatcher) (*Header, error) {
	if m.GetName() == "" {
		return nil, fmt.Errorf("header matcher without a name")
	}
	h := &Header{name: strings.ToLower(m.GetName()), invert: m.GetInvertMatch(), missingAsE: m.GetTreatMissingHeaderAsEmpty()}
	switch p := m.GetHeaderMatchSpecifier().(type) {
	case nil:
		// No specifier: the header must be present (Envoy's default).
		t := true
		h.present = &t
	case *routev3.HeaderMatcher_PresentMatch:
		v := p.PresentMatch
		h.present = &v
	case *routev3.HeaderMatcher_ExactMatch:
		v := p.ExactMatch
		h.fn = func(s string) bool { return s == v }
	case *routev3.HeaderMatcher_PrefixMatch:
		v := p.PrefixMatch
		h.fn = func(s string) bool { return strings.HasPrefix(s, v) }
	case *routev3.HeaderMatcher_SuffixMatch:
		v := p.SuffixMatch
		h.fn = func(s string) bool { return strings.HasSuffix(s, v) }
	case *routev3.HeaderMatcher_ContainsMatch:
		v := p.ContainsMatch
		h.fn = func(s string) bool { return strings.Contains(s, v) }
	case *routev3.HeaderMatcher_SafeRegexMatch:
		re, err := CompileRegex(p.SafeRegexMatch)
		if err != nil {
			return nil, fmt.Errorf("header %q: %v", m.GetName(), err)
		}
		h.fn = re.MatchString
	case *routev3.HeaderMatcher_RangeMatch:
		lo, hi := p.RangeMatch.GetStart(), p.RangeMatch.GetEnd()
		h.fn = func(s string) bool {
			n, err := strconv.ParseInt(s, 10, 64)
			return err == nil && n >= lo && n < hi
		}
	case *routev3.HeaderMatcher_StringMatch:
		fn, err := CompileString(p.StringMatch)
		if err != nil {
			return nil, fmt.Errorf("header %q: %v", m.GetName(), err)
		}
		h.fn = fn
	default:
		return nil, fmt.Errorf("header %q: unsupported header matcher %T", m.GetName(), p)
	}
	return h, nil
}

// HeaderValue returns the value Envoy would match against: pseudo-headers come
// from the request line, repeated headers are joined with ",".
func HeaderValue(r *http.Request, name string) (string, bool) {
	switch name {
	case ":path":
		return r.URL.RequestURI(), true
	case ":authority", "host":
		return r.Host, true
	case ":method":
		return r.Method, true
	case ":scheme":
		if r.TLS != nil {
			return "https", true
		}
		return "http", true
	}
	vs, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// Match reports whether the request matches.
func (h *Header) Match(r *http.Request) bool {
	v, ok := HeaderValue(r, h.name)
	if !ok && h.missingAsE {
		v, ok = "", true
	}
	var res bool
	switch {
	case h.present != nil:
		res = ok == *h.present
	case !ok:
		// A missing header never matches a value matcher, even inverted
		// (Envoy: invert_match does not turn "absent" into a match).
		return false
	default:
		res = h.fn(v)
	}
	return res != h.invert
}

// Query is a compiled QueryParameterMatcher.
type Query struct {
	name    string
	present bool
	fn      String
}

// CompileQuery compiles a QueryParameterMatcher.
func CompileQuery(m *routev3.QueryParameterMatcher) (*Query, error) {
	q := &Query{name: m.GetName()}
	switch p := m.GetQueryParameterMatchSpecifier().(type) {
	case nil:
		q.present = true
	case *routev3.QueryParameterMatcher_PresentMatch:
		if !p.PresentMatch {
			return nil, fmt.Errorf("query parameter %q: present_match false is not allowed", m.GetName())
		}
		q.present = true
	case *routev3.QueryParameterMatcher_StringMatch:
		fn, err := CompileString(p.StringMatch)
		if err != nil {
			return nil, fmt.Errorf("query parameter %q: %v", m.GetName(), err)
		}
		q.fn = fn
	default:
		return nil, fmt.Errorf("query parameter %q: unsupported matcher %T", m.GetName(), p)
	}
	return q, nil
}

// Match checks the first occurrence of the parameter, as Envoy does.
func (q *Query) Match(r *http.Request) bool {
	vs, ok := r.URL.Query()[q.name]
	if !ok {
		return false
	}
	if q.present {
		return true
	}
	return q.fn(vs[0])
}
