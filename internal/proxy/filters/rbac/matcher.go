package rbac

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	networkinputv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
	ipmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/input_matchers/ip/v3"
	metadatamatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/input_matchers/metadata/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/match"
)

// action is what a matched rule decides.
type action struct {
	name  string
	allow bool
}

// matcher is a compiled xds Matcher: a list of predicates tried in order
// (first match wins) and what applies when none matches.
type matcher struct {
	rules     []rule
	onNoMatch *onMatch
}

type rule struct {
	pred predicate
	then *onMatch
}

// onMatch is an action or a nested matcher.
type onMatch struct {
	act    *action
	nested *matcher
}

type predicate func(s *filters.Stream) bool

// decide walks the matcher; ok is false when nothing decided.
func (m *matcher) decide(s *filters.Stream) (action, bool) {
	for _, r := range m.rules {
		if r.pred(s) {
			if a, ok := r.then.decide(s); ok {
				return a, true
			}
		}
	}
	if m.onNoMatch != nil {
		return m.onNoMatch.decide(s)
	}
	return action{}, false
}

func (o *onMatch) decide(s *filters.Stream) (action, bool) {
	if o.act != nil {
		return *o.act, true
	}
	return o.nested.decide(s)
}

func compileMatcher(m *xdsmatcherv3.Matcher) (*matcher, error) {
	out := &matcher{}
	switch t := m.GetMatcherType().(type) {
	case *xdsmatcherv3.Matcher_MatcherList_:
		for i, fm := range t.MatcherList.GetMatchers() {
			p, err := compilePredicate(fm.GetPredicate())
			if err != nil {
				return nil, fmt.Errorf("matcher_list[%d]: %v", i, err)
			}
			om, err := compileOnMatch(fm.GetOnMatch())
			if err != nil {
				return nil, fmt.Errorf("matcher_list[%d]: %v", i, err)
			}
			out.rules = append(out.rules, rule{pred: p, then: om})
		}
	case nil:
	default:
		return nil, fmt.Errorf("matcher_tree is not supported")
	}
	if m.GetOnNoMatch() != nil {
		om, err := compileOnMatch(m.GetOnNoMatch())
		if err != nil {
			return nil, fmt.Errorf("on_no_match: %v", err)
		}
		out.onNoMatch = om
	}
	return out, nil
}

func compileOnMatch(o *xdsmatcherv3.Matcher_OnMatch) (*onMatch, error) {
	if o.GetKeepMatching() {
		return nil, fmt.Errorf("keep_matching is not supported")
	}
	switch t := o.GetOnMatch().(type) {
	case *xdsmatcherv3.Matcher_OnMatch_Action:
		var a rbacv3.Action
		if err := t.Action.GetTypedConfig().UnmarshalTo(&a); err != nil {
			return nil, fmt.Errorf("action %q: %v", t.Action.GetName(), err)
		}
		switch a.GetAction() {
		case rbacv3.RBAC_ALLOW:
			return &onMatch{act: &action{name: a.GetName(), allow: true}}, nil
		case rbacv3.RBAC_DENY:
			return &onMatch{act: &action{name: a.GetName()}}, nil
		default:
			return nil, fmt.Errorf("action %q: %v is not supported", a.GetName(), a.GetAction())
		}
	case *xdsmatcherv3.Matcher_OnMatch_Matcher:
		n, err := compileMatcher(t.Matcher)
		if err != nil {
			return nil, err
		}
		return &onMatch{nested: n}, nil
	}
	return nil, fmt.Errorf("on_match without an action or matcher")
}

func compilePredicate(p *xdsmatcherv3.Matcher_MatcherList_Predicate) (predicate, error) {
	switch t := p.GetMatchType().(type) {
	case *xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_:
		return compileSingle(t.SinglePredicate)
	case *xdsmatcherv3.Matcher_MatcherList_Predicate_OrMatcher:
		ps, err := compileList(t.OrMatcher.GetPredicate())
		if err != nil {
			return nil, err
		}
		return func(s *filters.Stream) bool {
			for _, p := range ps {
				if p(s) {
					return true
				}
			}
			return false
		}, nil
	case *xdsmatcherv3.Matcher_MatcherList_Predicate_AndMatcher:
		ps, err := compileList(t.AndMatcher.GetPredicate())
		if err != nil {
			return nil, err
		}
		return func(s *filters.Stream) bool {
			for _, p := range ps {
				if !p(s) {
					return false
				}
			}
			return true
		}, nil
	case *xdsmatcherv3.Matcher_MatcherList_Predicate_NotMatcher:
		inner, err := compilePredicate(t.NotMatcher)
		if err != nil {
			return nil, err
		}
		return func(s *filters.Stream) bool { return !inner(s) }, nil
	}
	return nil, fmt.Errorf("empty predicate")
}

func compileList(ps []*xdsmatcherv3.Matcher_MatcherList_Predicate) ([]predicate, error) {
	out := make([]predicate, 0, len(ps))
	for _, p := range ps {
		c, err := compilePredicate(p)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// input produces the value a predicate tests; ok is false when the
// request has none (a missing header), which matches nothing.
type input func(s *filters.Stream) (any, bool)

func compileSingle(sp *xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate) (predicate, error) {
	in, kind, err := compileInput(sp.GetInput())
	if err != nil {
		return nil, err
	}
	switch m := sp.GetMatcher().(type) {
	case *xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch:
		if kind != kindString {
			return nil, fmt.Errorf("input %q: value_match needs a string input", sp.GetInput().GetName())
		}
		fn, err := compileXdsString(m.ValueMatch)
		if err != nil {
			return nil, err
		}
		return func(s *filters.Stream) bool {
			v, ok := in(s)
			return ok && fn(v.(string))
		}, nil
	case *xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_CustomMatch:
		return compileCustom(m.CustomMatch, in, kind)
	}
	return nil, fmt.Errorf("single_predicate without a matcher")
}

type inputKind int

const (
	kindString inputKind = iota
	kindIP
	kindMetadata
)

func compileInput(tc *xdscorev3.TypedExtensionConfig) (input, inputKind, error) {
	msg, err := tc.GetTypedConfig().UnmarshalNew()
	if err != nil {
		return nil, 0, fmt.Errorf("input %q: %v", tc.GetName(), err)
	}
	switch in := msg.(type) {
	case *matcherv3.HttpRequestHeaderMatchInput:
		name := strings.ToLower(in.GetHeaderName())
		return func(s *filters.Stream) (any, bool) { return match.HeaderValue(s.Request, name) }, kindString, nil
	case *networkinputv3.SourceIPInput:
		return func(s *filters.Stream) (any, bool) { return remoteIP(s.Request) }, kindIP, nil
	case *networkinputv3.DynamicMetadataInput:
		ns := in.GetFilter()
		var path []string
		for _, seg := range in.GetPath() {
			path = append(path, seg.GetKey())
		}
		return func(s *filters.Stream) (any, bool) { return lookup(s.LookupDynamicMetadata(ns), path) }, kindMetadata, nil
	}
	return nil, 0, fmt.Errorf("input %q (%s) is not supported", tc.GetName(), proto.MessageName(msg))
}

func remoteIP(r *http.Request) (any, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

func lookup(m map[string]any, path []string) (any, bool) {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return v, m != nil
}

func compileCustom(tc *xdscorev3.TypedExtensionConfig, in input, kind inputKind) (predicate, error) {
	msg, err := tc.GetTypedConfig().UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("custom_match %q: %v", tc.GetName(), err)
	}
	switch m := msg.(type) {
	case *ipmatcherv3.Ip:
		if kind != kindIP {
			return nil, fmt.Errorf("custom_match %q: the ip matcher needs an IP input", tc.GetName())
		}
		var prefixes []netip.Prefix
		for _, c := range m.GetCidrRanges() {
			a, err := netip.ParseAddr(c.GetAddressPrefix())
			if err != nil {
				return nil, fmt.Errorf("custom_match %q: %v", tc.GetName(), err)
			}
			p, err := a.Prefix(int(c.GetPrefixLen().GetValue()))
			if err != nil {
				return nil, fmt.Errorf("custom_match %q: %v", tc.GetName(), err)
			}
			prefixes = append(prefixes, p)
		}
		return func(s *filters.Stream) bool {
			v, ok := in(s)
			if !ok {
				return false
			}
			for _, p := range prefixes {
				if p.Contains(v.(netip.Addr)) {
					return true
				}
			}
			return false
		}, nil
	case *metadatamatcherv3.Metadata:
		if kind != kindMetadata {
			return nil, fmt.Errorf("custom_match %q: the metadata matcher needs a metadata input", tc.GetName())
		}
		vm, err := compileValue(m.GetValue())
		if err != nil {
			return nil, fmt.Errorf("custom_match %q: %v", tc.GetName(), err)
		}
		invert := m.GetInvert()
		return func(s *filters.Stream) bool {
			v, ok := in(s)
			return ok && vm(v) != invert
		}, nil
	}
	return nil, fmt.Errorf("custom_match %q (%s) is not supported", tc.GetName(), proto.MessageName(msg))
}

// compileValue compiles a ValueMatcher over a metadata value.
func compileValue(vm *matcherv3.ValueMatcher) (func(any) bool, error) {
	switch p := vm.GetMatchPattern().(type) {
	case *matcherv3.ValueMatcher_StringMatch:
		fn, err := match.CompileString(p.StringMatch)
		if err != nil {
			return nil, err
		}
		return func(v any) bool { s, ok := v.(string); return ok && fn(s) }, nil
	case *matcherv3.ValueMatcher_BoolMatch:
		want := p.BoolMatch
		return func(v any) bool { b, ok := v.(bool); return ok && b == want }, nil
	case *matcherv3.ValueMatcher_PresentMatch:
		want := p.PresentMatch
		return func(v any) bool { return (v != nil) == want }, nil
	case *matcherv3.ValueMatcher_ListMatch:
		inner, err := compileValue(p.ListMatch.GetOneOf())
		if err != nil {
			return nil, err
		}
		return func(v any) bool {
			l, ok := v.([]any)
			if !ok {
				return false
			}
			for _, e := range l {
				if inner(e) {
					return true
				}
			}
			return false
		}, nil
	case *matcherv3.ValueMatcher_OrMatch:
		var fns []func(any) bool
		for _, m := range p.OrMatch.GetValueMatchers() {
			fn, err := compileValue(m)
			if err != nil {
				return nil, err
			}
			fns = append(fns, fn)
		}
		return func(v any) bool {
			for _, fn := range fns {
				if fn(v) {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, fmt.Errorf("value matcher %T is not supported", vm.GetMatchPattern())
}

// compileXdsString compiles the xds StringMatcher (the matcher tree's own
// copy of Envoy's).
func compileXdsString(m *xdsmatcherv3.StringMatcher) (func(string) bool, error) {
	norm := func(s string) string { return s }
	if m.GetIgnoreCase() {
		norm = strings.ToLower
	}
	switch p := m.GetMatchPattern().(type) {
	case *xdsmatcherv3.StringMatcher_Exact:
		want := norm(p.Exact)
		return func(s string) bool { return norm(s) == want }, nil
	case *xdsmatcherv3.StringMatcher_Prefix:
		want := norm(p.Prefix)
		return func(s string) bool { return strings.HasPrefix(norm(s), want) }, nil
	case *xdsmatcherv3.StringMatcher_Suffix:
		want := norm(p.Suffix)
		return func(s string) bool { return strings.HasSuffix(norm(s), want) }, nil
	case *xdsmatcherv3.StringMatcher_Contains:
		want := norm(p.Contains)
		return func(s string) bool { return strings.Contains(norm(s), want) }, nil
	case *xdsmatcherv3.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + p.SafeRegex.GetRegex() + ")$")
		if err != nil {
			return nil, fmt.Errorf("invalid regex %q: %v", p.SafeRegex.GetRegex(), err)
		}
		return re.MatchString, nil
	}
	return nil, fmt.Errorf("string matcher %T is not supported", m.GetMatchPattern())
}
