package jwtauthn

import (
	"net/http"
	"strings"
)

// location is where a provider looks for its token.
type location struct {
	header, prefix string // from a header, after prefix
	param          string // from a query parameter
	cookie         string // from a cookie
}

// defaultLocations are Envoy's when a provider names none: the
// Authorization header's Bearer token and the access_token parameter.
var defaultLocations = []location{
	{header: "Authorization", prefix: "Bearer "},
	{param: "access_token"},
}

// extracted is a token found at a location.
type extracted struct {
	value string
	loc   location
}

// extract returns the tokens present at the locations, in order.
func extract(r *http.Request, locs []location) []extracted {
	var out []extracted
	var query map[string][]string
	for _, l := range locs {
		switch {
		case l.header != "":
			for _, v := range r.Header.Values(l.header) {
				if tok, ok := afterPrefix(v, l.prefix); ok {
					out = append(out, extracted{value: tok, loc: l})
				}
			}
		case l.param != "":
			if query == nil {
				query = r.URL.Query()
			}
			for _, v := range query[l.param] {
				if v != "" {
					out = append(out, extracted{value: v, loc: l})
				}
			}
		case l.cookie != "":
			if c, err := r.Cookie(l.cookie); err == nil && c.Value != "" {
				out = append(out, extracted{value: c.Value, loc: l})
			}
		}
	}
	return out
}

// afterPrefix returns what follows prefix in a header value. Like Envoy,
// the prefix may sit anywhere in the value (it is searched for; the
// scheme "Bearer" is matched without regard to case) and the token ends
// at the first character that cannot be part of a JWT.
func afterPrefix(v, prefix string) (string, bool) {
	if prefix != "" {
		i := strings.Index(v, prefix)
		if i < 0 && strings.EqualFold(strings.TrimSpace(prefix), "bearer") {
			i = strings.Index(strings.ToLower(v), strings.ToLower(prefix))
		}
		if i < 0 {
			return "", false
		}
		v = v[i+len(prefix):]
		end := strings.IndexFunc(v, func(c rune) bool { return !isTokenChar(c) })
		if end >= 0 {
			v = v[:end]
		}
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

func isTokenChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/'
}

// remove takes the token out of the request (forward: false).
func (e extracted) remove(r *http.Request) {
	switch {
	case e.loc.header != "":
		r.Header.Del(e.loc.header)
	case e.loc.param != "":
		q := r.URL.Query()
		q.Del(e.loc.param)
		r.URL.RawQuery = q.Encode()
	}
}
