package rbac

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	networkinputv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
	ipmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/input_matchers/ip/v3"
	metadatamatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/input_matchers/metadata/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/filtertest"
)

func tec(name string, m proto.Message) *xdscorev3.TypedExtensionConfig {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return &xdscorev3.TypedExtensionConfig{Name: name, TypedConfig: a}
}

func act(name string, a rbacv3.RBAC_Action) *xdsmatcherv3.Matcher_OnMatch {
	return &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{
		Action: tec(name, &rbacv3.Action{Name: name, Action: a})}}
}

func single(in, m *xdscorev3.TypedExtensionConfig) *xdsmatcherv3.Matcher_MatcherList_Predicate {
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
		SinglePredicate: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{Input: in,
			Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_CustomMatch{CustomMatch: m}}}}
}

func header(name, value string, ignoreCase bool) *xdsmatcherv3.Matcher_MatcherList_Predicate {
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
		SinglePredicate: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{
			Input: tec("header", &matcherv3.HttpRequestHeaderMatchInput{HeaderName: name}),
			Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: &xdsmatcherv3.StringMatcher{
				MatchPattern: &xdsmatcherv3.StringMatcher_Exact{Exact: value}, IgnoreCase: ignoreCase}}}}}
}

func and(ps ...*xdsmatcherv3.Matcher_MatcherList_Predicate) *xdsmatcherv3.Matcher_MatcherList_Predicate {
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_AndMatcher{
		AndMatcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_PredicateList{Predicate: ps}}}
}

// policy is the shape Envoy Gateway gives an authorization with three
// rules and a default deny.
func policy() *rbacfilterv3.RBAC {
	cidr := single(tec("client_ip", &networkinputv3.SourceIPInput{}),
		tec("ip_matcher", &ipmatcherv3.Ip{StatPrefix: "client_ip", CidrRanges: []*corev3.CidrRange{
			{AddressPrefix: "10.0.0.0", PrefixLen: wrapperspb.UInt32(8)}}}))
	scope := single(
		tec("jwt", &networkinputv3.DynamicMetadataInput{Filter: "envoy.filters.http.jwt_authn", Path: []*networkinputv3.DynamicMetadataInput_PathSegment{
			{Segment: &networkinputv3.DynamicMetadataInput_PathSegment_Key{Key: "example"}},
			{Segment: &networkinputv3.DynamicMetadataInput_PathSegment_Key{Key: "scope"}}}}),
		tec("metadata", &metadatamatcherv3.Metadata{Value: &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_ListMatch{
			ListMatch: &matcherv3.ListMatcher{MatchPattern: &matcherv3.ListMatcher_OneOf{OneOf: &matcherv3.ValueMatcher{
				MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
					MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "read"}}}}}}}}}))
	return &rbacfilterv3.RBAC{Matcher: &xdsmatcherv3.Matcher{
		MatcherType: &xdsmatcherv3.Matcher_MatcherList_{MatcherList: &xdsmatcherv3.Matcher_MatcherList{
			Matchers: []*xdsmatcherv3.Matcher_MatcherList_FieldMatcher{
				{Predicate: and(cidr, header("x-role", "admin", false)), OnMatch: act("admins", rbacv3.RBAC_ALLOW)},
				{Predicate: header(":method", "delete", true), OnMatch: act("no-deletes", rbacv3.RBAC_DENY)},
				{Predicate: scope, OnMatch: act("readers", rbacv3.RBAC_ALLOW)},
			}}},
		OnNoMatch: act("default", rbacv3.RBAC_DENY),
	}}
}

func TestMatcher(t *testing.T) {
	p, err := Compile(policy())
	if err != nil {
		t.Fatal(err)
	}
	f := &Filter{name: FilterName, policy: &Policy{}}
	cases := []struct {
		name   string
		method string
		remote string
		role   string
		scopes []any
		code   int
		rule   string
	}{
		{"admin from the office", "GET", "10.1.2.3:5000", "admin", nil, 200, ""},
		{"admin from elsewhere", "GET", "192.0.2.1:5000", "admin", nil, 403, "default"},
		{"admin role is case-sensitive", "GET", "10.1.2.3:5000", "Admin", nil, 403, "default"},
		{"reader", "GET", "192.0.2.1:5000", "", []any{"write", "read"}, 200, ""},
		{"reader deleting", "DELETE", "192.0.2.1:5000", "", []any{"read"}, 403, "no-deletes"},
		{"nobody", "GET", "192.0.2.1:5000", "", nil, 403, "default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "http://x/", nil)
			r.RemoteAddr = c.remote
			if c.role != "" {
				r.Header.Set("X-Role", c.role)
			}
			s := &filters.Stream{}
			if c.scopes != nil {
				s.DynamicMetadata()["envoy.filters.http.jwt_authn"] = map[string]any{"example": map[string]any{"scope": c.scopes}}
			}
			res := filtertest.RunStream(f, s, r, filtertest.Options{PerRoute: map[string]any{FilterName: p}})
			if res.Code != c.code {
				t.Fatalf("got %d, want %d", res.Code, c.code)
			}
			if c.code == 403 && (res.Body != deniedBody || res.Details != "rbac_access_denied_matched_policy["+c.rule+"]") {
				t.Fatalf("%q %q", res.Body, res.Details)
			}
			// Envoy's dynamic metadata of the decision.
			want := map[string]any{"enforced_engine_result": "allowed", "enforced_effective_policy_id": c.rule}
			if c.code == 403 {
				want["enforced_engine_result"] = "denied"
			}
			if c.rule == "" {
				want["enforced_effective_policy_id"] = map[bool]string{true: "admins", false: "readers"}[c.role != ""]
			}
			if got := s.LookupDynamicMetadata(FilterName); !reflect.DeepEqual(got, want) {
				t.Fatalf("dynamic metadata %v, want %v", got, want)
			}
		})
	}
}

// A policy without a matcher enforces nothing and, as Envoy (which runs
// no engine for it), writes no metadata.
func TestEmptyPolicyAllows(t *testing.T) {
	p, err := Compile(&rbacfilterv3.RBAC{})
	if err != nil {
		t.Fatal(err)
	}
	s := &filters.Stream{}
	if res := filtertest.RunStream(&Filter{name: FilterName, policy: p}, s, httptest.NewRequest("GET", "/", nil), filtertest.Options{}); res.Code != http.StatusOK {
		t.Fatal(res.Code)
	}
	if md := s.LookupDynamicMetadata(FilterName); md != nil {
		t.Fatalf("metadata without an engine: %v", md)
	}
}

// Envoy Gateway's authorization with defaultAction Allow and no rules is
// a matcher with on_no_match only: the result is "allowed", decided by the
// action named "default"; rules_stat_prefix prefixes the keys, and other
// filters' keys in the namespace are kept.
func TestDecisionMetadata(t *testing.T) {
	allow := &rbacfilterv3.RBAC{Matcher: &xdsmatcherv3.Matcher{OnNoMatch: act("default", rbacv3.RBAC_ALLOW)}}
	deny := &rbacfilterv3.RBAC{RulesStatPrefix: "p_", Matcher: &xdsmatcherv3.Matcher{MatcherType: &xdsmatcherv3.Matcher_MatcherList_{
		MatcherList: &xdsmatcherv3.Matcher_MatcherList{Matchers: []*xdsmatcherv3.Matcher_MatcherList_FieldMatcher{
			{Predicate: header("x-role", "admin", false), OnMatch: act("admins", rbacv3.RBAC_ALLOW)}}}}}}
	for _, c := range []struct {
		name string
		cfg  *rbacfilterv3.RBAC
		code int
		want map[string]any
	}{
		{"default allow", allow, 200, map[string]any{"enforced_engine_result": "allowed", "enforced_effective_policy_id": "default", "other": "kept"}},
		{"nothing decides, with a prefix", deny, 403, map[string]any{"p_enforced_engine_result": "denied", "other": "kept"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Compile(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := &filters.Stream{}
			s.DynamicMetadata()[FilterName] = map[string]any{"other": "kept"}
			res := filtertest.RunStream(&Filter{name: FilterName, policy: &Policy{}}, s, httptest.NewRequest("GET", "/", nil),
				filtertest.Options{PerRoute: map[string]any{FilterName: p}})
			if res.Code != c.code {
				t.Fatalf("got %d, want %d", res.Code, c.code)
			}
			if got := s.LookupDynamicMetadata(FilterName); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("dynamic metadata %v, want %v", got, c.want)
			}
		})
	}
}

func TestRejected(t *testing.T) {
	for name, c := range map[string]*rbacfilterv3.RBAC{
		"rules":        {Rules: &rbacv3.RBAC{}},
		"shadow":       {ShadowMatcher: &xdsmatcherv3.Matcher{}},
		"matcher tree": {Matcher: &xdsmatcherv3.Matcher{MatcherType: &xdsmatcherv3.Matcher_MatcherTree_{MatcherTree: &xdsmatcherv3.Matcher_MatcherTree{}}}},
	} {
		if _, err := Compile(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
