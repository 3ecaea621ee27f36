// Package jwtauthn is Envoy's envoy.filters.http.jwt_authn for the
// built-in proxy, as Envoy Gateway configures it: providers with issuer,
// audiences, token locations and a local or remote JWKS; a requirement_map
// that routes select with PerRouteConfig.requirement_name; claims copied
// to headers, the payload put in dynamic metadata; and Envoy's 401/403
// answers with their bodies and WWW-Authenticate challenge.
//
// Signatures are checked with github.com/lestrrat-go/jwx/v3 (RS, PS, ES,
// EdDSA and HS algorithms); the token is parsed here so that every
// rejection carries jwt_verify_lib's status text.
//
// Differences from Envoy, each a choice: `rules` (route matching inside
// the filter) and the fields listed in unsupported() are rejected by name;
// a JWKS is fetched on first use through the request's cluster (Envoy's
// async_fetch fetches at startup) and, when a token names a kid the cached
// set lacks, fetched again once (see remoteJWKS); claim_to_headers replaces
// a header the client sent rather than adding to it.
package jwtauthn

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// FilterName is the filter's name and its dynamic metadata namespace.
const FilterName = "envoy.filters.http.jwt_authn"

const detailsPrefix = "jwt_authn_access_denied"

func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig")},
		New:              newFilter,
		PerRoute:         parsePerRoute,
	})
}

// perRoute is a parsed PerRouteConfig.
type perRoute struct {
	disabled    bool
	requirement string
}

func parsePerRoute(cfg *anypb.Any) (any, error) {
	var pr jwtv3.PerRouteConfig
	if err := cfg.UnmarshalTo(&pr); err != nil {
		return nil, err
	}
	if err := pr.ValidateAll(); err != nil {
		return nil, err
	}
	return &perRoute{disabled: pr.GetDisabled(), requirement: pr.GetRequirementName()}, nil
}

// Filter is one configured jwt_authn instance.
type Filter struct {
	name         string
	providers    []*provider
	requirements map[string]requirement
	bypassCORS   bool
	stripBody    bool
	now          func() time.Time
}

func newFilter(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
	var c jwtv3.JwtAuthentication
	if err := cfg.UnmarshalTo(&c); err != nil {
		return nil, fmt.Errorf("jwt_authn %q: %v", name, err)
	}
	f, err := Compile(name, &c, time.Now)
	if err != nil {
		return nil, fmt.Errorf("jwt_authn %q: %v", name, err)
	}
	return f, nil
}

// Compile builds the filter from its config; now is the clock tokens are
// checked against.
func Compile(name string, c *jwtv3.JwtAuthentication, now func() time.Time) (*Filter, error) {
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	if len(c.GetRules()) > 0 {
		return nil, fmt.Errorf("rules are not supported (select requirements per route with requirement_map)")
	}
	if c.GetFilterStateRules() != nil {
		return nil, fmt.Errorf("filter_state_rules are not supported")
	}
	f := &Filter{name: name, requirements: map[string]requirement{}, bypassCORS: c.GetBypassCorsPreflight(),
		stripBody: c.GetStripFailureResponse(), now: now}
	byName := map[string]*provider{}
	names := make([]string, 0, len(c.GetProviders()))
	for n := range c.GetProviders() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, err := compileProvider(n, c.GetProviders()[n], now)
		if err != nil {
			return nil, fmt.Errorf("provider %q: %v", n, err)
		}
		byName[n] = p
		f.providers = append(f.providers, p)
	}
	for n, r := range c.GetRequirementMap() {
		req, err := compileRequirement(r, byName)
		if err != nil {
			return nil, fmt.Errorf("requirement_map %q: %v", n, err)
		}
		f.requirements[n] = req
	}
	return f, nil
}

func compileProvider(name string, p *jwtv3.JwtProvider, now func() time.Time) (*provider, error) {
	if err := unsupported(p); err != nil {
		return nil, err
	}
	out := &provider{
		name: name, issuer: p.GetIssuer(), audiences: p.GetAudiences(), forward: p.GetForward(),
		payloadHeader: p.GetForwardPayloadHeader(), padPayload: p.GetPadForwardPayloadHeader(),
		payloadMetadata: p.GetPayloadInMetadata(), clearRouteCache: p.GetClearRouteCache(),
		clockSkew: 60, spaceDelimited: map[string]bool{},
	}
	if p.GetClockSkewSeconds() != 0 {
		out.clockSkew = int64(p.GetClockSkewSeconds())
	}
	for _, c := range p.GetNormalizePayloadInMetadata().GetSpaceDelimitedClaims() {
		out.spaceDelimited[c] = true
	}
	for _, h := range p.GetFromHeaders() {
		out.locations = append(out.locations, location{header: h.GetName(), prefix: h.GetValuePrefix()})
	}
	for _, q := range p.GetFromParams() {
		out.locations = append(out.locations, location{param: q})
	}
	for _, c := range p.GetFromCookies() {
		out.locations = append(out.locations, location{cookie: c})
	}
	if len(out.locations) == 0 {
		out.locations = defaultLocations
	}
	for _, ch := range p.GetClaimToHeaders() {
		out.claimHeaders = append(out.claimHeaders, claimHeader{header: ch.GetHeaderName(), path: strings.Split(ch.GetClaimName(), ".")})
	}
	switch src := p.GetJwksSourceSpecifier().(type) {
	case *jwtv3.JwtProvider_LocalJwks:
		b, err := inline(src.LocalJwks)
		if err != nil {
			return nil, err
		}
		if out.local, err = parseJWKS(b); err != nil {
			return nil, fmt.Errorf("local_jwks: %v", err)
		}
	case *jwtv3.JwtProvider_RemoteJwks:
		r, err := compileRemote(src.RemoteJwks, now)
		if err != nil {
			return nil, err
		}
		out.remote = r
	default:
		return nil, fmt.Errorf("one of local_jwks or remote_jwks is required")
	}
	return out, nil
}

// unsupported names the provider fields the filter does not implement, so
// that they are rejected rather than ignored.
func unsupported(p *jwtv3.JwtProvider) error {
	var names []string
	if p.GetSubjects() != nil {
		names = append(names, "subjects")
	}
	if p.GetRequireExpiration() {
		names = append(names, "require_expiration")
	}
	if p.GetMaxLifetime() != nil {
		names = append(names, "max_lifetime")
	}
	if p.GetHeaderInMetadata() != "" {
		names = append(names, "header_in_metadata")
	}
	if p.GetFailedStatusInMetadata() != "" {
		names = append(names, "failed_status_in_metadata")
	}
	for _, ch := range p.GetClaimToHeaders() {
		if len(ch.GetClaimPath()) > 0 {
			names = append(names, "claim_to_headers.claim_path")
			break
		}
	}
	if len(names) > 0 {
		return fmt.Errorf("%s not supported", strings.Join(names, ", "))
	}
	return nil
}

func compileRemote(r *jwtv3.RemoteJwks, now func() time.Time) (*remoteJWKS, error) {
	u := r.GetHttpUri()
	if u.GetCluster() == "" {
		return nil, fmt.Errorf("remote_jwks.http_uri.cluster is required")
	}
	out := &remoteJWKS{uri: u.GetUri(), cluster: u.GetCluster(), timeout: u.GetTimeout().AsDuration(),
		cacheDuration: 5 * time.Minute, refetchInterval: time.Second, now: now}
	if out.timeout <= 0 {
		out.timeout = 10 * time.Second
	}
	if d := r.GetCacheDuration(); d != nil {
		out.cacheDuration = d.AsDuration()
	}
	if d := r.GetAsyncFetch().GetFailedRefetchDuration(); d != nil && d.AsDuration() > 0 {
		out.refetchInterval = d.AsDuration()
	}
	if n := r.GetRetryPolicy().GetNumRetries(); n != nil {
		out.retries = min(int(n.GetValue()), 5)
	} else if r.GetRetryPolicy() != nil {
		out.retries = 1 // Envoy's RetryPolicy default
	}
	return out, nil
}

func inline(ds *corev3.DataSource) ([]byte, error) {
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineString:
		return []byte(s.InlineString), nil
	case *corev3.DataSource_InlineBytes:
		return s.InlineBytes, nil
	}
	return nil, fmt.Errorf("local_jwks: only inline_string and inline_bytes are supported")
}

// Fetches reports how many JWKS fetches the filter's providers started.
func (f *Filter) Fetches() int64 {
	var n int64
	for _, p := range f.providers {
		if p.remote != nil {
			n += p.remote.fetches.Load()
		}
	}
	return n
}

// Serve verifies the request against the route's requirement.
func (f *Filter) Serve(s *filters.Stream, next filters.Next) {
	req := f.requirementFor(s)
	r := s.Request
	if req == nil || f.bypassCORS && r.Method == http.MethodOptions &&
		r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		next(s)
		return
	}
	c := &evalCtx{ctx: r.Context(), r: r, ups: s.Upstreams, now: f.now(), all: f.providers, done: map[doneKey]Status{}}
	if st := req.eval(c); st != StatusOK {
		f.deny(s, st)
		return
	}
	c.applyOutputs(s)
	next(s)
}

// requirementFor is the requirement the route selects; without a
// per-route config the filter checks nothing (no rules are supported).
func (f *Filter) requirementFor(s *filters.Stream) requirement {
	v, ok := s.PerRoute(f.name)
	if !ok {
		return nil
	}
	pr, ok := v.(*perRoute)
	if !ok || pr.disabled {
		return nil
	}
	req, ok := f.requirements[pr.requirement]
	if !ok {
		// Envoy rejects the request when the named requirement is absent.
		return missingRequirement{}
	}
	return req
}

type missingRequirement struct{}

func (missingRequirement) eval(*evalCtx) Status { return StatusMissing }

// deny answers as Envoy does: 403 for a disallowed audience, else 401,
// with a Bearer challenge for the request's URI and the status as body.
func (f *Filter) deny(s *filters.Stream, st Status) {
	r := s.Request
	code := http.StatusUnauthorized
	if st == StatusAudienceNotAllowed {
		code = http.StatusForbidden
	}
	challenge := `Bearer realm="` + originalURI(r) + `"`
	if st != StatusMissing {
		challenge += `, error="invalid_token"`
	}
	s.Writer.Header().Set("Www-Authenticate", challenge)
	body := string(st)
	if f.stripBody {
		body = ""
	}
	s.LocalReply(code, body, detailsPrefix+"{"+strings.ReplaceAll(string(st), " ", "_")+"}")
}

// originalURI is scheme://host/path without the query, as Envoy builds
// the realm.
func originalURI(r *http.Request) string {
	scheme := r.Header.Get("X-Forwarded-Proto")
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}
