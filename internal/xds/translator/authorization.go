package translator

import (
	"fmt"
	"net/netip"
	"strings"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	networkinputv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
	ipmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/input_matchers/ip/v3"
	metadatamatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/input_matchers/metadata/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/ir"
)

const rbacFilterName = "envoy.filters.http.rbac"

// authorization follows Envoy Gateway's layout: one enabled, empty RBAC
// entry (no policy) when a route of the HCM has authorization, and on
// each such route an RBACPerRoute whose matcher lists the rules in order
// (first match wins) with the default action as on_no_match. A rule is
// the AND of its conditions: methods (any), client CIDRs (any), each JWT
// scope (in scope or scp), each JWT claim (any of its values), each header
// (any of its values).
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     rbacFilterName,
		Rank:     RankRBAC,
		Listener: rbacListenerFilters,
		Route:    rbacRouteConfig,
	})
}

func rbacListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	if firstRoute(c, func(r *ir.HTTPRoute) bool { return r.Security != nil && r.Security.Authorization != nil }) == nil {
		return nil, nil
	}
	f, err := typedFilter(rbacFilterName, &rbacfilterv3.RBAC{})
	if err != nil {
		return nil, err
	}
	return []*hcmv3.HttpFilter{f}, nil
}

func rbacRouteConfig(c *RouteContext) error {
	if c.IR.Security == nil || c.IR.Security.Authorization == nil {
		return nil
	}
	a := c.IR.Security.Authorization
	m := &xdsmatcherv3.Matcher{}
	var list []*xdsmatcherv3.Matcher_MatcherList_FieldMatcher
	for i, r := range a.Rules {
		p, err := rulePredicate(r)
		if err != nil {
			return fmt.Errorf("authorization rule %d: %v", i, err)
		}
		act, err := rbacAction(r.Name, r.Action)
		if err != nil {
			return err
		}
		list = append(list, &xdsmatcherv3.Matcher_MatcherList_FieldMatcher{Predicate: p, OnMatch: act})
	}
	if len(list) > 0 {
		m.MatcherType = &xdsmatcherv3.Matcher_MatcherList_{MatcherList: &xdsmatcherv3.Matcher_MatcherList{Matchers: list}}
	}
	def, err := rbacAction("default", a.DefaultAction)
	if err != nil {
		return err
	}
	m.OnNoMatch = def
	pr := &rbacfilterv3.RBACPerRoute{Rbac: &rbacfilterv3.RBAC{Matcher: m}}
	if err := pr.ValidateAll(); err != nil {
		return err
	}
	return c.SetPerFilterConfig(rbacFilterName, pr)
}

func rbacAction(name, action string) (*xdsmatcherv3.Matcher_OnMatch, error) {
	act := rbacv3.RBAC_DENY
	switch action {
	case "Allow":
		act = rbacv3.RBAC_ALLOW
	case "Deny", "":
	default:
		return nil, fmt.Errorf("authorization action %q", action)
	}
	tc, err := typedExtension(name, &rbacv3.Action{Name: name, Action: act})
	if err != nil {
		return nil, err
	}
	return &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{Action: tc}}, nil
}

func typedExtension(name string, m proto.Message) (*xdscorev3.TypedExtensionConfig, error) {
	a, err := packAny(m)
	if err != nil {
		return nil, err
	}
	return &xdscorev3.TypedExtensionConfig{Name: name, TypedConfig: a}, nil
}

type predicate = xdsmatcherv3.Matcher_MatcherList_Predicate

func rulePredicate(r *ir.AuthorizationRule) (*predicate, error) {
	var and []*predicate
	if r.Operation != nil && len(r.Operation.Methods) > 0 {
		var or []*predicate
		for _, m := range r.Operation.Methods {
			p, err := headerPredicate(":method", m, true)
			if err != nil {
				return nil, err
			}
			or = append(or, p)
		}
		and = append(and, orPredicate(or))
	}
	pr := r.Principal
	if len(pr.ClientCIDRs) > 0 {
		p, err := cidrPredicate(pr.ClientCIDRs)
		if err != nil {
			return nil, err
		}
		and = append(and, p)
	}
	if j := pr.JWT; j != nil {
		ps, err := jwtPredicates(j)
		if err != nil {
			return nil, err
		}
		and = append(and, ps...)
	}
	for _, h := range pr.Headers {
		var or []*predicate
		for _, v := range h.Values {
			p, err := headerPredicate(h.Name, v, false)
			if err != nil {
				return nil, err
			}
			or = append(or, p)
		}
		and = append(and, orPredicate(or))
	}
	switch len(and) {
	case 0:
		return nil, fmt.Errorf("a rule needs at least one condition")
	case 1:
		return and[0], nil
	}
	return &predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_AndMatcher{
		AndMatcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_PredicateList{Predicate: and}}}, nil
}

func orPredicate(ps []*predicate) *predicate {
	if len(ps) == 1 {
		return ps[0]
	}
	return &predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_OrMatcher{
		OrMatcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_PredicateList{Predicate: ps}}}
}

func headerPredicate(name, value string, ignoreCase bool) (*predicate, error) {
	in, err := typedExtension("request-headers", &matcherv3.HttpRequestHeaderMatchInput{HeaderName: name})
	if err != nil {
		return nil, err
	}
	return &predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
		SinglePredicate: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{Input: in,
			Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: &xdsmatcherv3.StringMatcher{
				MatchPattern: &xdsmatcherv3.StringMatcher_Exact{Exact: value}, IgnoreCase: ignoreCase}}}}}, nil
}

func cidrPredicate(cidrs []*ir.CIDRMatch) (*predicate, error) {
	ipm := &ipmatcherv3.Ip{StatPrefix: "client_ip"}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c.CIDR)
		if err != nil {
			return nil, fmt.Errorf("client CIDR %q: %v", c.CIDR, err)
		}
		ipm.CidrRanges = append(ipm.CidrRanges, &corev3.CidrRange{AddressPrefix: p.Masked().Addr().String(),
			PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))})
	}
	in, err := typedExtension("client_ip", &networkinputv3.SourceIPInput{})
	if err != nil {
		return nil, err
	}
	m, err := typedExtension("envoy.matching.matchers.ip", ipm)
	if err != nil {
		return nil, err
	}
	return customPredicate(in, m), nil
}

func customPredicate(in, m *xdscorev3.TypedExtensionConfig) *predicate {
	return &predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
		SinglePredicate: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{Input: in,
			Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_CustomMatch{CustomMatch: m}}}}
}

// jwtPredicates test the payload jwt_authn put in metadata under the
// provider's name: each scope in "scope" or "scp" (lists after the
// filter's normalisation), each claim one of its values.
func jwtPredicates(j *ir.JWTPrincipal) ([]*predicate, error) {
	var out []*predicate
	for _, scope := range j.Scopes {
		var or []*predicate
		for _, key := range []string{"scope", "scp"} {
			p, err := metadataPredicate([]string{j.Provider, key}, listOneOf(scope))
			if err != nil {
				return nil, err
			}
			or = append(or, p)
		}
		out = append(out, orPredicate(or))
	}
	for _, c := range j.Claims {
		path := append([]string{j.Provider}, strings.Split(c.Name, ".")...)
		var or []*predicate
		for _, v := range c.Values {
			vm := exactValue(v)
			if c.ValueType != nil && *c.ValueType == "StringArray" {
				vm = listOneOf(v)
			}
			p, err := metadataPredicate(path, vm)
			if err != nil {
				return nil, err
			}
			or = append(or, p)
		}
		if len(or) == 0 {
			return nil, fmt.Errorf("claim %s without values", c.Name)
		}
		out = append(out, orPredicate(or))
	}
	return out, nil
}

func exactValue(v string) *matcherv3.ValueMatcher {
	return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
		MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}}}
}

func listOneOf(v string) *matcherv3.ValueMatcher {
	return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_ListMatch{ListMatch: &matcherv3.ListMatcher{
		MatchPattern: &matcherv3.ListMatcher_OneOf{OneOf: exactValue(v)}}}}
}

func metadataPredicate(path []string, vm *matcherv3.ValueMatcher) (*predicate, error) {
	in := &networkinputv3.DynamicMetadataInput{Filter: jwtFilterName}
	for _, k := range path {
		in.Path = append(in.Path, &networkinputv3.DynamicMetadataInput_PathSegment{
			Segment: &networkinputv3.DynamicMetadataInput_PathSegment_Key{Key: k}})
	}
	ti, err := typedExtension("envoy.matching.inputs.dynamic_metadata", in)
	if err != nil {
		return nil, err
	}
	tm, err := typedExtension("envoy.matching.matchers.metadata_matcher", &metadatamatcherv3.Metadata{Value: vm})
	if err != nil {
		return nil, err
	}
	return customPredicate(ti, tm), nil
}
