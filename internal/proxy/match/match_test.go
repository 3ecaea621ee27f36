package match

import (
	"net/http"
	"net/http/httptest"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

func TestHeaderMatchers(t *testing.T) {
	r := httptest.NewRequest("GET", "http://h.test/a/b?x=1&x=2", nil)
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", "b")
	r.Header.Set("X-Num", "42")
	sm := func(p *matcherv3.StringMatcher) *routev3.HeaderMatcher_StringMatch {
		return &routev3.HeaderMatcher_StringMatch{StringMatch: p}
	}
	cases := []struct {
		m    *routev3.HeaderMatcher
		want bool
	}{
		{&routev3.HeaderMatcher{Name: "x-multi", HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "a,b"}})}, true},
		{&routev3.HeaderMatcher{Name: "X-MULTI", HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "A,B"}, IgnoreCase: true})}, true},
		{&routev3.HeaderMatcher{Name: ":path", HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "/a/"}})}, true},
		{&routev3.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "GET"}})}, true},
		{&routev3.HeaderMatcher{Name: "x-num", HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: 40, End: 43}}}, true},
		{&routev3.HeaderMatcher{Name: "x-num", HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: 40, End: 42}}}, false},
		{&routev3.HeaderMatcher{Name: "x-absent", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: false}}, true},
		{&routev3.HeaderMatcher{Name: "x-absent"}, false},
		{&routev3.HeaderMatcher{Name: "x-absent", InvertMatch: true, HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "v"}})}, false},
		{&routev3.HeaderMatcher{Name: "x-absent", TreatMissingHeaderAsEmpty: true, HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: ""}})}, true},
		{&routev3.HeaderMatcher{Name: "x-num", InvertMatch: true, HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "4"}}})}, true},
	}
	for i, c := range cases {
		h, err := CompileHeader(c.m)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if got := h.Match(r); got != c.want {
			t.Errorf("%d (%v): got %v", i, c.m, got)
		}
	}
	if _, err := CompileHeader(&routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "("}}})}); err == nil {
		t.Error("bad regex must fail to compile")
	}
}

func TestQueryMatcher(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/?x=1&x=2&flag", nil)
	q, _ := CompileQuery(&routev3.QueryParameterMatcher{Name: "x", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{
		StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "1"}}}})
	if !q.Match(r) {
		t.Error("first value must match")
	}
	p, _ := CompileQuery(&routev3.QueryParameterMatcher{Name: "flag", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}})
	if !p.Match(r) {
		t.Error("present flag")
	}
}
