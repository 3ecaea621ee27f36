// Package statefulsession is Envoy's envoy.filters.http.stateful_session
// for the built-in proxy: session stickiness without a hash balancer. The
// request names the upstream host it was sent to before, base64 of the
// host's "ip:port", in a cookie (envoy.http.stateful_session.cookie) or a
// header (envoy.http.stateful_session.header); when that address is a host
// of the route's cluster that balancing may pick, the router sends the
// request there (Stream.UpstreamOverrideHost), otherwise the balancer
// picks. The response names the host picked when it is not the one the
// request named: a Set-Cookie (Envoy's form: the value quoted, Max-Age
// from the cookie's ttl, Path, HttpOnly) or the header.
//
// Envoy Gateway's layout: a disabled listener entry, and per route a
// StatefulSessionPerRoute holding the route's StatefulSession. A setting
// this filter cannot honour (strict, stat_prefix, cookie attributes, the
// envelope state) is a config error, never ignored.
package statefulsession

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	statefulsessionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/stateful_session/v3"
	cookiev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/cookie/v3"
	headerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/header/v3"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// FilterName is the filter's name in Envoy Gateway's listeners.
const FilterName = "envoy.filters.http.stateful_session"

var (
	cookieStateURL = filters.TypeURL("envoy.extensions.http.stateful_session.cookie.v3.CookieBasedSessionState")
	headerStateURL = filters.TypeURL("envoy.extensions.http.stateful_session.header.v3.HeaderBasedSessionState")
)

func init() {
	filters.Register(&filters.Factory{
		TypeURL:          filters.TypeURL("envoy.extensions.filters.http.stateful_session.v3.StatefulSession"),
		PerRouteTypeURLs: []string{filters.TypeURL("envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute")},
		New: func(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
			var c statefulsessionv3.StatefulSession
			if err := cfg.UnmarshalTo(&c); err != nil {
				return nil, fmt.Errorf("stateful_session %q: %v", name, err)
			}
			s, err := Compile(&c)
			if err != nil {
				return nil, fmt.Errorf("stateful_session %q: %v", name, err)
			}
			return &Filter{name: name, session: s}, nil
		},
		PerRoute: func(cfg *anypb.Any) (any, error) {
			var p statefulsessionv3.StatefulSessionPerRoute
			if err := cfg.UnmarshalTo(&p); err != nil {
				return nil, err
			}
			if p.GetDisabled() {
				return &perRoute{disabled: true}, nil
			}
			s, err := Compile(p.GetStatefulSession())
			if err != nil {
				return nil, fmt.Errorf("stateful_session: %v", err)
			}
			return &perRoute{session: s}, nil
		},
	})
}

// perRoute is a parsed StatefulSessionPerRoute.
type perRoute struct {
	disabled bool
	session  *Session
}

// Session is a compiled StatefulSession: where the session's host is kept.
// A nil Session (a StatefulSession without session_state) keeps none.
type Session struct {
	header string // the header's name (header-based state)
	cookie string // the cookie's name (cookie-based state)
	path   string // the cookie's Path ("" for none)
	maxAge int64  // the cookie's Max-Age in seconds (0: a session cookie)
}

// Compile checks a StatefulSession.
func Compile(c *statefulsessionv3.StatefulSession) (*Session, error) {
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	if err := xdsconf.CheckFields("StatefulSession", c, "session_state"); err != nil {
		return nil, err
	}
	st := c.GetSessionState()
	if st == nil {
		return nil, nil
	}
	switch st.GetTypedConfig().GetTypeUrl() {
	case cookieStateURL:
		var cs cookiev3.CookieBasedSessionState
		if err := st.GetTypedConfig().UnmarshalTo(&cs); err != nil {
			return nil, err
		}
		return compileCookie(&cs)
	case headerStateURL:
		var hs headerv3.HeaderBasedSessionState
		if err := st.GetTypedConfig().UnmarshalTo(&hs); err != nil {
			return nil, err
		}
		if err := hs.ValidateAll(); err != nil {
			return nil, err
		}
		if !httpguts.ValidHeaderFieldName(hs.GetName()) {
			return nil, fmt.Errorf("header-based session state: %q is not a header name", hs.GetName())
		}
		return &Session{header: http.CanonicalHeaderKey(hs.GetName())}, nil
	default:
		return nil, fmt.Errorf("session_state %q (%s) is not supported: cookie and header are",
			st.GetName(), st.GetTypedConfig().GetTypeUrl())
	}
}

func compileCookie(cs *cookiev3.CookieBasedSessionState) (*Session, error) {
	if err := cs.ValidateAll(); err != nil {
		return nil, err
	}
	ck := cs.GetCookie()
	if !httpguts.ValidHeaderFieldName(ck.GetName()) {
		return nil, fmt.Errorf("cookie-based session state: %q is not a cookie name", ck.GetName())
	}
	if len(ck.GetAttributes()) > 0 {
		return nil, fmt.Errorf("cookie-based session state: cookie attributes are not supported")
	}
	s := &Session{cookie: ck.GetName(), path: ck.GetPath()}
	if ttl := ck.GetTtl(); ttl != nil {
		s.maxAge = int64(ttl.AsDuration().Seconds())
	}
	return s, nil
}

// Filter is the stateful_session filter instance.
type Filter struct {
	name    string
	session *Session // the listener's config
}

// Serve routes the request to the session's host and names the host picked
// on the response.
func (f *Filter) Serve(s *filters.Stream, next filters.Next) {
	sess := f.session
	if v, ok := s.PerRoute(f.name); ok {
		p, _ := v.(*perRoute)
		if p == nil || p.disabled {
			next(s)
			return
		}
		sess = p.session
	}
	if sess == nil || !sess.pathMatches(s.Request.URL.Path) {
		next(s)
		return
	}
	asked := sess.requested(s.Request)
	if asked != "" {
		s.UpstreamOverrideHost = asked
	}
	s.Writer = &filters.HookWriter{ResponseWriter: s.Writer, OnHeader: func(code int, h http.Header) int {
		// The router records each attempt's host before its response is
		// written: this is the host that answered.
		if s.Info != nil && s.Info.UpstreamHost != "" && s.Info.UpstreamHost != asked {
			sess.name(h, s.Info.UpstreamHost)
		}
		return code
	}}
	next(s)
}

// requested is the host address the request names, "" when it names none
// or its value does not decode.
func (sess *Session) requested(r *http.Request) string {
	var v string
	if sess.header != "" {
		v = r.Header.Get(sess.header)
	} else if c, err := r.Cookie(sess.cookie); err == nil {
		v = c.Value
	}
	if v == "" {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// name puts the host's address in the response.
func (sess *Session) name(h http.Header, addr string) {
	v := base64.StdEncoding.EncodeToString([]byte(addr))
	if sess.header != "" {
		h.Set(sess.header, v)
		return
	}
	var b strings.Builder
	b.WriteString(sess.cookie + `="` + v + `"`)
	if sess.maxAge > 0 {
		b.WriteString("; Max-Age=" + strconv.FormatInt(sess.maxAge, 10))
	}
	if sess.path != "" {
		b.WriteString("; Path=" + sess.path)
	}
	b.WriteString("; HttpOnly")
	h.Add("Set-Cookie", b.String())
}

// pathMatches is Envoy's cookie path rule: the cookie-based state applies
// to requests under the cookie's Path (all of them when it is "" or "/"),
// as a browser would send the cookie; the header-based state to all.
func (sess *Session) pathMatches(p string) bool {
	if sess.header != "" || sess.path == "" || sess.path == "/" {
		return true
	}
	if strings.HasSuffix(sess.path, "/") {
		return strings.HasPrefix(p, sess.path)
	}
	return p == sess.path || strings.HasPrefix(p, sess.path+"/")
}
