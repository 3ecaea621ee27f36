package jwtauthn

import (
	"fmt"

	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
)

// requirement is a compiled JwtRequirement.
type requirement interface {
	eval(c *evalCtx) Status
}

type providerReq struct {
	p         *provider
	audiences []string // provider_and_audiences override; nil keeps the provider's
}

type anyReq []requirement
type allReq []requirement
type allowMissingOrFailed struct{}
type allowMissing struct{}

func compileRequirement(r *jwtv3.JwtRequirement, providers map[string]*provider) (requirement, error) {
	switch t := r.GetRequiresType().(type) {
	case *jwtv3.JwtRequirement_ProviderName:
		p, ok := providers[t.ProviderName]
		if !ok {
			return nil, fmt.Errorf("requirement names provider %q, which is not configured", t.ProviderName)
		}
		return providerReq{p: p}, nil
	case *jwtv3.JwtRequirement_ProviderAndAudiences:
		p, ok := providers[t.ProviderAndAudiences.GetProviderName()]
		if !ok {
			return nil, fmt.Errorf("requirement names provider %q, which is not configured", t.ProviderAndAudiences.GetProviderName())
		}
		return providerReq{p: p, audiences: append([]string{}, t.ProviderAndAudiences.GetAudiences()...)}, nil
	case *jwtv3.JwtRequirement_RequiresAny:
		var out anyReq
		for _, c := range t.RequiresAny.GetRequirements() {
			cr, err := compileRequirement(c, providers)
			if err != nil {
				return nil, err
			}
			out = append(out, cr)
		}
		return out, nil
	case *jwtv3.JwtRequirement_RequiresAll:
		var out allReq
		for _, c := range t.RequiresAll.GetRequirements() {
			cr, err := compileRequirement(c, providers)
			if err != nil {
				return nil, err
			}
			out = append(out, cr)
		}
		return out, nil
	case *jwtv3.JwtRequirement_AllowMissingOrFailed:
		return allowMissingOrFailed{}, nil
	case *jwtv3.JwtRequirement_AllowMissing:
		return allowMissing{}, nil
	case nil:
		// An empty requirement requires nothing.
		return allowMissingOrFailed{}, nil
	default:
		return nil, fmt.Errorf("requirement %T is not supported", t)
	}
}

// eval verifies the first token found at the provider's locations.
func (r providerReq) eval(c *evalCtx) Status {
	toks := extract(c.r, r.p.locations)
	if len(toks) == 0 {
		return StatusMissing
	}
	return c.verify(r.p, toks[0], r.audiences)
}

// eval passes when one child passes; otherwise it reports the last
// failure other than a missing token (a missing token says least).
func (rs anyReq) eval(c *evalCtx) Status {
	final := StatusMissing
	for _, r := range rs {
		st := r.eval(c)
		if st == StatusOK {
			return StatusOK
		}
		if st != StatusMissing {
			final = st
		}
	}
	return final
}

func (rs allReq) eval(c *evalCtx) Status {
	for _, r := range rs {
		if st := r.eval(c); st != StatusOK {
			return st
		}
	}
	return StatusOK
}

// eval still verifies what is there, so valid tokens give their outputs.
func (allowMissingOrFailed) eval(c *evalCtx) Status {
	for _, p := range c.all {
		for _, e := range extract(c.r, p.locations) {
			if forProvider(p, e) {
				c.verify(p, e, nil)
			}
		}
	}
	return StatusOK
}

// eval passes without tokens; a token present must verify with a provider
// that reads it from there and whose issuer it names.
func (allowMissing) eval(c *evalCtx) Status {
	st := StatusOK
	seen := map[string]bool{}
	for _, p := range c.all {
		for _, e := range extract(c.r, p.locations) {
			if seen[e.value] || !forProvider(p, e) {
				continue
			}
			seen[e.value] = true
			if s := c.verify(p, e, nil); s != StatusOK {
				st = s
			}
		}
	}
	for _, p := range c.all {
		for _, e := range extract(c.r, p.locations) {
			if !seen[e.value] {
				seen[e.value] = true
				st = StatusUnknownIssuer
			}
		}
	}
	return st
}

// forProvider reports whether a token found at one of p's locations is
// meant for p: its issuer is p's (or p checks no issuer). A token that
// cannot be parsed is given to the first provider that finds it, which
// reports the parse error.
func forProvider(p *provider, e extracted) bool {
	t, st := parseToken(e.value)
	if st != StatusOK {
		return true
	}
	return p.issuer == "" || t.iss == p.issuer
}
