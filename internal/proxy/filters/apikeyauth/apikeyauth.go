// Package apikeyauth is Envoy's envoy.filters.http.api_key_auth for the
// built-in proxy, in Envoy Gateway's layout: a disabled listener entry and
// an ApiKeyAuthPerRoute (credentials, key sources, allowed clients,
// forwarding) on each route that uses it. A missing or unknown key is a
// 401, a known key whose client is not allowed a 403.
package apikeyauth

import (
	"crypto/subtle"
	"fmt"
	"net/http"

	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// Envoy's answers.
const (
	msgUnauthenticated = "Client authentication failed."
	msgForbidden       = "Client is forbidden."
)

func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuthPerRoute")},
		New: func(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
			var c apikeyv3.ApiKeyAuth
			if err := cfg.UnmarshalTo(&c); err != nil {
				return nil, fmt.Errorf("api_key_auth %q: %v", name, err)
			}
			if err := c.ValidateAll(); err != nil {
				return nil, fmt.Errorf("api_key_auth %q: %v", name, err)
			}
			cfg2, err := compile(c.GetCredentials(), c.GetKeySources(), nil, c.GetForwarding())
			if err != nil {
				return nil, fmt.Errorf("api_key_auth %q: %v", name, err)
			}
			return &Filter{name: name, cfg: cfg2}, nil
		},
		PerRoute: func(cfg *anypb.Any) (any, error) {
			var pr apikeyv3.ApiKeyAuthPerRoute
			if err := cfg.UnmarshalTo(&pr); err != nil {
				return nil, err
			}
			if err := pr.ValidateAll(); err != nil {
				return nil, err
			}
			return compile(pr.GetCredentials(), pr.GetKeySources(), pr.GetAllowedClients(), pr.GetForwarding())
		},
	})
}

// config is the effective configuration of a route.
type config struct {
	creds   []credential
	sources []*apikeyv3.KeySource
	allowed map[string]bool // nil: every client
	forward *apikeyv3.Forwarding
}

type credential struct {
	key    []byte
	client string
}

func compile(creds []*apikeyv3.Credential, sources []*apikeyv3.KeySource, allowed []string, fw *apikeyv3.Forwarding) (*config, error) {
	c := &config{sources: sources, forward: fw}
	seen := map[string]bool{}
	for _, cr := range creds {
		if seen[cr.GetKey()] {
			return nil, fmt.Errorf("duplicated API key")
		}
		seen[cr.GetKey()] = true
		c.creds = append(c.creds, credential{key: []byte(cr.GetKey()), client: cr.GetClient()})
	}
	for _, s := range sources {
		n := 0
		for _, set := range []bool{s.GetHeader() != "", s.GetQuery() != "", s.GetCookie() != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("a key source names exactly one of header, query or cookie")
		}
	}
	if len(allowed) > 0 {
		c.allowed = map[string]bool{}
		for _, a := range allowed {
			c.allowed[a] = true
		}
	}
	return c, nil
}

// merged is the listener config overlaid with a route's: per-route
// credentials, sources and forwarding replace the listener's when set.
func (c *config) merged(pr *config) *config {
	if pr == nil {
		return c
	}
	out := *c
	if len(pr.creds) > 0 {
		out.creds = pr.creds
	}
	if len(pr.sources) > 0 {
		out.sources = pr.sources
	}
	if pr.forward != nil {
		out.forward = pr.forward
	}
	out.allowed = pr.allowed
	return &out
}

// Filter is one configured api_key_auth instance.
type Filter struct {
	name string
	cfg  *config
}

// Serve checks the request's API key.
func (f *Filter) Serve(s *filters.Stream, next filters.Next) {
	var pr *config
	if v, ok := s.PerRoute(f.name); ok {
		pr, _ = v.(*config)
	}
	c := f.cfg.merged(pr)
	r := s.Request
	key, src := c.find(r)
	if key == "" {
		s.LocalReply(http.StatusUnauthorized, msgUnauthenticated, "api_key_auth_missing_credentials")
		return
	}
	client, ok := c.lookup(key)
	if !ok {
		s.LocalReply(http.StatusUnauthorized, msgUnauthenticated, "api_key_auth_invalid_credentials")
		return
	}
	if c.allowed != nil && !c.allowed[client] {
		s.LocalReply(http.StatusForbidden, msgForbidden, "api_key_auth_client_forbidden")
		return
	}
	if fw := c.forward; fw != nil {
		if fw.GetHeader() != "" {
			r.Header.Set(fw.GetHeader(), client)
		}
		if fw.GetHideCredentials() {
			hide(r, src)
		}
	}
	next(s)
}

// find returns the key from the first source that has one.
func (c *config) find(r *http.Request) (string, *apikeyv3.KeySource) {
	for _, s := range c.sources {
		var v string
		switch {
		case s.GetHeader() != "":
			v = r.Header.Get(s.GetHeader())
		case s.GetQuery() != "":
			v = r.URL.Query().Get(s.GetQuery())
		case s.GetCookie() != "":
			if ck, err := r.Cookie(s.GetCookie()); err == nil {
				v = ck.Value
			}
		}
		if v != "" {
			return v, s
		}
	}
	return "", nil
}

// lookup compares every key in constant time so that timing says nothing
// about which keys exist.
func (c *config) lookup(key string) (string, bool) {
	client, found := "", false
	for _, cr := range c.creds {
		if subtle.ConstantTimeCompare(cr.key, []byte(key)) == 1 {
			client, found = cr.client, true
		}
	}
	return client, found
}

func hide(r *http.Request, s *apikeyv3.KeySource) {
	switch {
	case s.GetHeader() != "":
		r.Header.Del(s.GetHeader())
	case s.GetQuery() != "":
		q := r.URL.Query()
		q.Del(s.GetQuery())
		r.URL.RawQuery = q.Encode()
	case s.GetCookie() != "":
		cks := r.Cookies()
		r.Header.Del("Cookie")
		for _, ck := range cks {
			if ck.Name != s.GetCookie() {
				r.AddCookie(ck)
			}
		}
	}
}
