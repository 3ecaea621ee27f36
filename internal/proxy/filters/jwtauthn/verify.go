package jwtauthn

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// provider is one JwtProvider of the filter.
type provider struct {
	name            string
	issuer          string
	audiences       []string
	locations       []location
	forward         bool
	payloadHeader   string
	padPayload      bool
	payloadMetadata string
	spaceDelimited  map[string]bool
	claimHeaders    []claimHeader
	clearRouteCache bool
	clockSkew       int64
	local           keySet
	remote          *remoteJWKS
	cache           tokenCache
}

type claimHeader struct {
	header string
	path   []string
}

// evalCtx is one request's verification: tokens already checked (a token
// is verified once per provider however many requirements name it) and
// the successes whose outputs apply when the requirement passes.
type evalCtx struct {
	ctx      context.Context
	r        *http.Request
	ups      filters.Upstreams
	now      time.Time
	all      []*provider
	done     map[doneKey]Status
	verified []verifiedToken
}

type doneKey struct {
	p     *provider
	token string
}

type verifiedToken struct {
	p   *provider
	t   *token
	src extracted
}

// verify checks one token against one provider, in jwt_verify_lib's
// order: format, issuer, time, audiences, then the signature.
func (c *evalCtx) verify(p *provider, e extracted, audiences []string) Status {
	key := doneKey{p, e.value}
	if st, ok := c.done[key]; ok && audiences == nil {
		return st
	}
	t, st := c.check(p, e.value, audiences)
	if audiences == nil {
		c.done[key] = st
	}
	if st == StatusOK {
		c.verified = append(c.verified, verifiedToken{p: p, t: t, src: e})
	}
	return st
}

func (c *evalCtx) check(p *provider, raw string, audiences []string) (*token, Status) {
	var gen uint64
	fresh := true
	if p.remote != nil {
		gen, fresh = p.remote.generation()
	}
	if fresh {
		if t, ok := p.cache.get(raw, gen); ok {
			return t, c.claimsAllowed(p, t, audiences)
		}
	}
	t, st := c.verifyUncached(p, raw, audiences)
	if st == StatusOK {
		if p.payloadMetadata != "" {
			t.metadata = p.normalized(t.payload)
		}
		if p.remote != nil {
			gen, _ = p.remote.generation()
		}
		p.cache.put(raw, t, gen)
	}
	return t, st
}

// claimsAllowed are the checks a cached token still needs: time and
// audiences (the issuer and signature do not change).
func (c *evalCtx) claimsAllowed(p *provider, t *token, audiences []string) Status {
	if st := t.checkTime(c.now, p.clockSkew); st != StatusOK {
		return st
	}
	if audiences == nil {
		audiences = p.audiences
	}
	if !t.audienceAllowed(audiences) {
		return StatusAudienceNotAllowed
	}
	return StatusOK
}

func (c *evalCtx) verifyUncached(p *provider, raw string, audiences []string) (*token, Status) {
	t, st := parseToken(raw)
	if st != StatusOK {
		return nil, st
	}
	if p.issuer != "" && t.iss != p.issuer {
		return nil, StatusUnknownIssuer
	}
	if st := c.claimsAllowed(p, t, audiences); st != StatusOK {
		return nil, st
	}
	ks := p.local
	if p.remote != nil {
		var err error
		if ks, err = p.remote.keysFor(c.ctx, t, c.ups); err != nil {
			slog.Warn("jwt_authn: JWKS unavailable", "provider", p.name, "uri", p.remote.uri, "error", err)
			return nil, StatusJwksFetchFail
		}
	}
	found, ok := ks.verify(t)
	switch {
	case ok:
		return t, StatusOK
	case !found:
		return nil, StatusJwksKidAlgMismatch
	}
	return nil, StatusVerificationFail
}

// applyOutputs does what a successful verification does to the request:
// claims to headers, payload to metadata and headers, the token removed
// unless forwarded, and the route re-selected when asked.
func (c *evalCtx) applyOutputs(s *filters.Stream) {
	clear := false
	for _, v := range c.verified {
		p := v.p
		for _, ch := range p.claimHeaders {
			if val, ok := claimString(v.t.payload, ch.path); ok {
				s.Request.Header.Set(ch.header, val)
			}
		}
		if p.payloadMetadata != "" {
			s.DynamicMetadata()[FilterName] = withEntry(s.LookupDynamicMetadata(FilterName),
				p.payloadMetadata, v.t.metadata)
		}
		if p.payloadHeader != "" {
			enc := base64.RawURLEncoding
			if p.padPayload {
				enc = base64.URLEncoding
			}
			b, _ := base64.RawURLEncoding.DecodeString(v.t.payloadB64)
			s.Request.Header.Set(p.payloadHeader, enc.EncodeToString(b))
		}
		if !p.forward {
			v.src.remove(s.Request)
		}
		clear = clear || p.clearRouteCache && len(p.claimHeaders) > 0
	}
	if clear && s.ClearRouteCache != nil {
		s.ClearRouteCache()
	}
}

func withEntry(m map[string]any, k string, v any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	m[k] = v
	return m
}

// normalized is the payload as metadata: space-delimited claims (scope,
// scp) become lists so that matchers can test one value.
func (p *provider) normalized(payload map[string]any) map[string]any {
	out := make(map[string]any, len(payload))
	for k, v := range payload {
		if s, ok := v.(string); ok && p.spaceDelimited[k] {
			parts := strings.Fields(s)
			l := make([]any, len(parts))
			for i, x := range parts {
				l[i] = x
			}
			out[k] = l
			continue
		}
		out[k] = v
	}
	return out
}

// claimString is a claim as a header value: strings as they are, numbers
// and booleans printed, lists of those joined with commas; objects and
// missing claims give nothing.
func claimString(payload map[string]any, path []string) (string, bool) {
	var v any = payload
	for _, seg := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[seg]; !ok {
			return "", false
		}
	}
	if l, ok := v.([]any); ok {
		parts := make([]string, 0, len(l))
		for _, x := range l {
			s, ok := scalarString(x)
			if !ok {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), len(parts) > 0
	}
	return scalarString(v)
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case interface{ String() string }: // json.Number
		return x.String(), true
	}
	return "", false
}
