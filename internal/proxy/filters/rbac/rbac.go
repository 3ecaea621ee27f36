// Package rbac is Envoy's envoy.filters.http.rbac for the built-in proxy
// in the form Envoy Gateway emits for SecurityPolicy authorization: an
// empty RBAC at the listener (no policy) and, per route, an RBACPerRoute
// whose matcher lists the rules in order (first match wins; ALLOW or
// DENY) with on_no_match as the default action. Inputs are request
// headers (methods and paths are the :method and :path pseudo-headers),
// the client IP and JWT claims in dynamic metadata; matchers are string,
// IP (CIDR) and metadata value matchers with and/or/not.
//
// The older policy form (rules with permissions and principals), shadow
// rules, matcher trees and CEL matchers are rejected by name.
package rbac

import (
	"fmt"
	"net/http"

	rbacfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// FilterName is the filter's name.
const FilterName = "envoy.filters.http.rbac"

// Envoy's answer when a request is denied.
const deniedBody = "RBAC: access denied"

func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.rbac.v3.RBAC"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.rbac.v3.RBACPerRoute")},
		New: func(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
			var c rbacfilterv3.RBAC
			if err := cfg.UnmarshalTo(&c); err != nil {
				return nil, fmt.Errorf("rbac %q: %v", name, err)
			}
			p, err := Compile(&c)
			if err != nil {
				return nil, fmt.Errorf("rbac %q: %v", name, err)
			}
			return &Filter{name: name, policy: p}, nil
		},
		PerRoute: func(cfg *anypb.Any) (any, error) {
			var pr rbacfilterv3.RBACPerRoute
			if err := cfg.UnmarshalTo(&pr); err != nil {
				return nil, err
			}
			if pr.GetRbac() == nil {
				return &Policy{}, nil
			}
			return Compile(pr.GetRbac())
		},
	})
}

// Policy is a compiled RBAC config; an empty one enforces nothing.
type Policy struct {
	m *matcher
}

// Compile checks and compiles an RBAC config.
func Compile(c *rbacfilterv3.RBAC) (*Policy, error) {
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	switch {
	case c.GetRules() != nil:
		return nil, fmt.Errorf("rules (policies with permissions and principals) are not supported; use matcher")
	case c.GetShadowRules() != nil || c.GetShadowMatcher() != nil:
		return nil, fmt.Errorf("shadow rules are not supported")
	case c.GetMatcher() == nil:
		return &Policy{}, nil
	}
	m, err := compileMatcher(c.GetMatcher())
	if err != nil {
		return nil, fmt.Errorf("matcher: %v", err)
	}
	return &Policy{m: m}, nil
}

// Allowed decides a request: allowed, and the name of the rule (or
// default action) that decided. A matcher that decides nothing denies.
func (p *Policy) Allowed(s *filters.Stream) (bool, string) {
	if p.m == nil {
		return true, ""
	}
	a, ok := p.m.decide(s)
	if !ok {
		return false, "none"
	}
	return a.allow, a.name
}

// Filter is one configured rbac instance.
type Filter struct {
	name   string
	policy *Policy
}

// Serve lets the request on or answers Envoy's 403.
func (f *Filter) Serve(s *filters.Stream, next filters.Next) {
	p := f.policy
	if v, ok := s.PerRoute(f.name); ok {
		if pp, ok := v.(*Policy); ok {
			p = pp
		}
	}
	allowed, rule := p.Allowed(s)
	if !allowed {
		s.LocalReply(http.StatusForbidden, deniedBody, "rbac_access_denied_matched_policy["+rule+"]")
		return
	}
	next(s)
}
