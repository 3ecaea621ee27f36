// Package rbac is Envoy's envoy.filters.http.rbac for the built-in proxy
// in the form Envoy Gateway emits for SecurityPolicy authorization: an
// empty RBAC at the listener (no policy) and, per route, an RBACPerRoute
// whose matcher lists the rules in order (first match wins; ALLOW or
// DENY) with on_no_match as the default action. Inputs are request
// headers (methods and paths are the :method and :path pseudo-headers),
// the client IP and JWT claims in dynamic metadata; matchers are string,
// IP (CIDR) and metadata value matchers with and/or/not. Each enforced
// decision is written to the stream's dynamic metadata as Envoy writes it
// (envoy.filters.http.rbac: enforced_engine_result and
// enforced_effective_policy_id, prefixed with rules_stat_prefix).
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
	// resultKey and policyIDKey are the dynamic metadata keys of the
	// decision, prefixed with rules_stat_prefix as Envoy does.
	resultKey, policyIDKey string
}

// Envoy's dynamic metadata of an enforced decision, in namespace
// envoy.filters.http.rbac: the result ("allowed" or "denied") and the name
// of the action that decided, when one did.
const (
	engineResultKey       = "enforced_engine_result"
	effectivePolicyIDKey  = "enforced_effective_policy_id"
	engineResultAllowed   = "allowed"
	engineResultDenied    = "denied"
	noPolicyInDenyDetails = "none"
)

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
	prefix := c.GetRulesStatPrefix()
	return &Policy{m: m, resultKey: prefix + engineResultKey, policyIDKey: prefix + effectivePolicyIDKey}, nil
}

// Allowed decides a request: allowed, and the name of the action that
// decided ("" when none did: a matcher that decides nothing denies).
// enforced is false for a policy without a matcher, which Envoy runs no
// engine for: it allows and says nothing.
func (p *Policy) Allowed(s *filters.Stream) (allowed bool, policyID string, enforced bool) {
	if p.m == nil {
		return true, "", false
	}
	a, ok := p.m.decide(s)
	if !ok {
		return false, "", true
	}
	return a.allow, a.name, true
}

// Filter is one configured rbac instance.
type Filter struct {
	name   string
	policy *Policy
}

// Serve lets the request on or answers Envoy's 403. An enforced decision
// is written to the stream's dynamic metadata, as Envoy does, where later
// filters (ext_proc's metadata_context, Lua, access logs) read it.
func (f *Filter) Serve(s *filters.Stream, next filters.Next) {
	p := f.policy
	if v, ok := s.PerRoute(f.name); ok {
		if pp, ok := v.(*Policy); ok {
			p = pp
		}
	}
	allowed, policyID, enforced := p.Allowed(s)
	if enforced {
		p.record(s, allowed, policyID)
	}
	if !allowed {
		if policyID == "" {
			policyID = noPolicyInDenyDetails
		}
		s.LocalReply(http.StatusForbidden, deniedBody, "rbac_access_denied_matched_policy["+policyID+"]")
		return
	}
	next(s)
}

// record merges the decision into the namespace envoy.filters.http.rbac.
func (p *Policy) record(s *filters.Stream, allowed bool, policyID string) {
	dm := s.DynamicMetadata()
	ns := dm[FilterName]
	if ns == nil {
		ns = map[string]any{}
		dm[FilterName] = ns
	}
	result := engineResultDenied
	if allowed {
		result = engineResultAllowed
	}
	ns[p.resultKey] = result
	if policyID != "" {
		ns[p.policyIDKey] = policyID
	}
}
