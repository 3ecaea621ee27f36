package translator

import (
	"fmt"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/portico-gw/portico/internal/ir"
)

// routeMatch is the path, header and query parameter match of r. No path
// match means prefix "/"; a prefix other than "/" matches whole path
// segments (path_separated_prefix), as Gateway API requires.
func routeMatch(r *ir.HTTPRoute) (*routev3.RouteMatch, error) {
	m := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if pm := r.PathMatch; pm != nil {
		switch {
		case pm.Exact != nil:
			m.PathSpecifier = &routev3.RouteMatch_Path{Path: *pm.Exact}
		case pm.Prefix != nil:
			p := strings.TrimRight(*pm.Prefix, "/")
			if p == "" {
				m.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
			} else {
				m.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: p}
			}
		case pm.SafeRegex != nil:
			if err := checkRegex(*pm.SafeRegex); err != nil {
				return nil, err
			}
			m.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: *pm.SafeRegex}}
		default:
			return nil, fmt.Errorf("path match supports exact, prefix and safeRegex only")
		}
	}
	for _, h := range r.HeaderMatches {
		hm, err := headerMatch(h)
		if err != nil {
			return nil, err
		}
		m.Headers = append(m.Headers, hm)
	}
	for _, q := range r.QueryParamMatches {
		qm, err := queryMatch(q)
		if err != nil {
			return nil, err
		}
		m.QueryParameters = append(m.QueryParameters, qm)
	}
	return m, nil
}

// checkRegex rejects patterns RE2 (Go's regexp has the same syntax) cannot
// compile, which Envoy would NACK.
func checkRegex(re string) error {
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("invalid regex %q: %w", re, err)
	}
	return nil
}

// stringMatcher converts an IR match; nil means "present" (no value given).
func stringMatcher(s ir.StringMatch) (*matcherv3.StringMatcher, error) {
	switch {
	case s.Exact != nil:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: *s.Exact}}, nil
	case s.Prefix != nil:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: *s.Prefix}}, nil
	case s.Suffix != nil:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: *s.Suffix}}, nil
	case s.Contains != nil:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: *s.Contains}}, nil
	case s.SafeRegex != nil:
		if err := checkRegex(*s.SafeRegex); err != nil {
			return nil, err
		}
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
			SafeRegex: &matcherv3.RegexMatcher{Regex: *s.SafeRegex},
		}}, nil
	}
	return nil, nil
}

func headerMatch(h ir.StringMatch) (*routev3.HeaderMatcher, error) {
	if h.Name == "" {
		return nil, fmt.Errorf("header match without name")
	}
	sm, err := stringMatcher(h)
	if err != nil {
		return nil, err
	}
	hm := &routev3.HeaderMatcher{Name: h.Name, InvertMatch: h.Invert != nil && *h.Invert}
	if sm == nil {
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	} else {
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: sm}
	}
	return hm, nil
}

func queryMatch(q ir.StringMatch) (*routev3.QueryParameterMatcher, error) {
	if q.Name == "" {
		return nil, fmt.Errorf("query parameter match without name")
	}
	if q.Invert != nil && *q.Invert {
		return nil, fmt.Errorf("query parameter %q: inverted matches are not supported", q.Name)
	}
	sm, err := stringMatcher(q)
	if err != nil {
		return nil, err
	}
	qm := &routev3.QueryParameterMatcher{Name: q.Name}
	if sm == nil {
		qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
	} else {
		qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}
	}
	return qm, nil
}
