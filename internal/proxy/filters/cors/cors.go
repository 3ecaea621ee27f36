// Package cors is Envoy's envoy.filters.http.cors for the built-in proxy:
// the listener's empty Cors entry and, per route, a CorsPolicy (Envoy
// Gateway's form). A preflight from an allowed origin is answered by the
// proxy (200 with the allow headers); an actual request from an allowed
// origin gets Access-Control-Allow-Origin, -Allow-Credentials and
// -Expose-Headers on its response; requests from other origins pass
// untouched, and their preflights are forwarded unless
// forward_not_matching_preflights is false (then answered 200 without
// CORS headers). filter_enabled and shadow_enabled (runtime fractions)
// are rejected by name.
package cors

import (
	"fmt"
	"net/http"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/match"
)

// FilterName is the filter's name.
const FilterName = "envoy.filters.http.cors"

func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.cors.v3.Cors"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.cors.v3.CorsPolicy")},
		New: func(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
			var c corsv3.Cors
			if err := cfg.UnmarshalTo(&c); err != nil {
				return nil, fmt.Errorf("cors %q: %v", name, err)
			}
			return &Filter{name: name}, nil
		},
		PerRoute: func(cfg *anypb.Any) (any, error) {
			var p corsv3.CorsPolicy
			if err := cfg.UnmarshalTo(&p); err != nil {
				return nil, err
			}
			return Compile(&p)
		},
	})
}

// Policy is a compiled CorsPolicy.
type Policy struct {
	origins          []match.String
	methods          string
	headers          string
	expose           string
	maxAge           string
	credentials      bool
	privateNetwork   bool
	forwardNoMatches bool
}

// Compile checks and compiles a CorsPolicy.
func Compile(p *corsv3.CorsPolicy) (*Policy, error) {
	if err := p.ValidateAll(); err != nil {
		return nil, err
	}
	if p.GetFilterEnabled() != nil || p.GetShadowEnabled() != nil {
		return nil, fmt.Errorf("cors: filter_enabled and shadow_enabled are not supported")
	}
	out := &Policy{methods: p.GetAllowMethods(), headers: p.GetAllowHeaders(), expose: p.GetExposeHeaders(),
		maxAge: p.GetMaxAge(), credentials: p.GetAllowCredentials().GetValue(),
		privateNetwork: p.GetAllowPrivateNetworkAccess().GetValue(), forwardNoMatches: true}
	if v := p.GetForwardNotMatchingPreflights(); v != nil {
		out.forwardNoMatches = v.GetValue()
	}
	for _, m := range p.GetAllowOriginStringMatch() {
		fn, err := match.CompileString(m)
		if err != nil {
			return nil, fmt.Errorf("cors: allow_origin_string_match: %v", err)
		}
		out.origins = append(out.origins, fn)
	}
	return out, nil
}

func (p *Policy) allows(origin string) bool {
	for _, m := range p.origins {
		if m(origin) {
			return true
		}
	}
	return false
}

// Filter is the cors filter instance.
type Filter struct{ name string }

// Serve applies the route's policy.
func (f *Filter) Serve(s *filters.Stream, next filters.Next) {
	v, _ := s.PerRoute(f.name)
	p, _ := v.(*Policy)
	r := s.Request
	origin := r.Header.Get("Origin")
	if p == nil || origin == "" {
		next(s)
		return
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	allowed := p.allows(origin)
	switch {
	case preflight && allowed:
		p.answerPreflight(s.Writer, r, origin)
	case preflight && !p.forwardNoMatches:
		s.Writer.WriteHeader(http.StatusOK)
	case allowed:
		s.Writer = &filters.HookWriter{ResponseWriter: s.Writer, OnHeader: func(code int, h http.Header) int {
			h.Set("Access-Control-Allow-Origin", origin)
			if p.credentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if p.expose != "" {
				h.Set("Access-Control-Expose-Headers", p.expose)
			}
			return code
		}}
		next(s)
	default:
		next(s)
	}
}

func (p *Policy) answerPreflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	if p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if p.methods != "" {
		h.Set("Access-Control-Allow-Methods", p.methods)
	}
	if p.headers != "" {
		h.Set("Access-Control-Allow-Headers", p.headers)
	}
	if p.maxAge != "" {
		h.Set("Access-Control-Max-Age", p.maxAge)
	}
	if p.privateNetwork && r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}
