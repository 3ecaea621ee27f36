// Package basicauth is Envoy's envoy.filters.http.basic_auth for the
// built-in proxy: htpasswd users ({SHA} entries only, as Envoy), a 401 with
// a Basic challenge for the request's URL, forward_username_header, and a
// per-route BasicAuthPerRoute that replaces the user list.
package basicauth

import (
	"crypto/sha1" //nolint:gosec // htpasswd {SHA} is the format Envoy accepts
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// Envoy's local reply bodies.
const (
	msgMissing    = "User authentication failed. Missing username and password."
	msgScheme     = "User authentication failed. Expected 'Basic' authentication scheme."
	msgFormat     = "User authentication failed. Invalid basic credential format."
	msgWrong      = "User authentication failed. Invalid username/password combination."
	detailsFailed = "invalid_credential_for_basic_auth"
)

func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.basic_auth.v3.BasicAuth"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute")},
		New:              newFilter,
		PerRoute: func(cfg *anypb.Any) (any, error) {
			var pr basicauthv3.BasicAuthPerRoute
			if err := cfg.UnmarshalTo(&pr); err != nil {
				return nil, err
			}
			return parseUsers(pr.GetUsers())
		},
	})
}

// users maps a user name to the SHA-1 digest of its password.
type users map[string][]byte

type filter struct {
	name       string
	users      users
	forward    string
	authHeader string
}

func newFilter(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
	var c basicauthv3.BasicAuth
	if err := cfg.UnmarshalTo(&c); err != nil {
		return nil, fmt.Errorf("basic_auth %q: %v", name, err)
	}
	if err := c.ValidateAll(); err != nil {
		return nil, fmt.Errorf("basic_auth %q: %v", name, err)
	}
	u, err := parseUsers(c.GetUsers())
	if err != nil {
		return nil, fmt.Errorf("basic_auth %q: %v", name, err)
	}
	f := &filter{name: name, users: u, forward: c.GetForwardUsernameHeader(), authHeader: "Authorization"}
	if h := c.GetAuthenticationHeader(); h != "" {
		f.authHeader = h
	}
	return f, nil
}

// parseUsers reads htpasswd content. Like Envoy, only "{SHA}" entries are
// accepted and a user may appear once; blank lines are skipped.
func parseUsers(ds *corev3.DataSource) (users, error) {
	var data string
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		data = string(s.InlineBytes)
	case *corev3.DataSource_InlineString:
		data = s.InlineString
	case nil:
	default:
		return nil, fmt.Errorf("users: only inline_bytes and inline_string are supported")
	}
	out := users{}
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("users line %d: not user:hash", i+1)
		}
		b64, ok := strings.CutPrefix(hash, "{SHA}")
		if !ok {
			return nil, fmt.Errorf("users line %d: unsupported htpasswd format: please use {SHA}", i+1)
		}
		sum, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sum) != sha1.Size {
			return nil, fmt.Errorf("users line %d: invalid {SHA} hash", i+1)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("users: duplicate user %q", name)
		}
		out[name] = sum
	}
	return out, nil
}

func (f *filter) Serve(s *filters.Stream, next filters.Next) {
	us := f.users
	if pr, ok := s.PerRoute(f.name); ok {
		if u, ok := pr.(users); ok {
			us = u
		}
	}
	r := s.Request
	user, msg := f.check(r, us)
	if msg != "" {
		// Envoy's challenge names the request's URL as the realm.
		s.Writer.Header().Set("www-authenticate", `Basic realm="http://`+r.Host+r.URL.RequestURI()+`"`)
		s.LocalReply(http.StatusUnauthorized, msg, detailsFailed)
		return
	}
	if f.forward != "" {
		r.Header.Set(f.forward, user)
	}
	next(s)
}

// check returns the authenticated user, or the reason it is refused.
func (f *filter) check(r *http.Request, us users) (string, string) {
	v := r.Header.Get(f.authHeader)
	if v == "" {
		return "", msgMissing
	}
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", msgScheme
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", msgFormat
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", msgFormat
	}
	want, ok := us[user]
	sum := sha1.Sum([]byte(pass)) //nolint:gosec // see import
	if !ok || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return "", msgWrong
	}
	return user, ""
}
