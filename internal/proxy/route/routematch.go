package route

import (
	"net"
	"net/http"
	"regexp"
	"strings"
)

// selectVhost implements Envoy's domain search order: exact names, then
// suffix wildcards ("*.example.com"), then prefix wildcards ("example.*"),
// longest first, then "*".
func (t *Table) SelectVirtualHost(host string) *VirtualHost {
	host = strings.ToLower(host)
	if t.ignorePort {
		host = StripPort(host)
	}
	if vh, ok := t.exact[host]; ok {
		return vh
	}
	for _, w := range t.suffix {
		// The wildcard must match at least one character.
		if len(host) > len(w.part) && strings.HasSuffix(host, w.part) {
			return w.vh
		}
	}
	for _, w := range t.prefix {
		if len(host) > len(w.part) && strings.HasPrefix(host, w.part) {
			return w.vh
		}
	}
	return t.star
}

func StripPort(host string) string {
	// Most hosts carry no port: SplitHostPort would fail on them, and its
	// error was an allocation per request.
	if strings.IndexByte(host, ':') < 0 {
		return host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// requestPath is the path Envoy matches on: :path without query or fragment,
// as sent (not percent-decoded).
func requestPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	return p
}

// selectRoute returns the first route of vh that matches r.
func (vh *VirtualHost) SelectRoute(r *http.Request) *Route {
	path := requestPath(r)
	var lower string
	for _, rt := range vh.routes {
		p := path
		if !rt.m.caseSensitive && rt.m.kind != pathRegex {
			if lower == "" {
				lower = strings.ToLower(path)
			}
			p = lower
		}
		if rt.m.matches(p, r) {
			return rt
		}
	}
	return nil
}

func (m *Match) matches(path string, r *http.Request) bool {
	switch m.kind {
	case pathPrefix:
		if !strings.HasPrefix(path, m.value) {
			return false
		}
	case pathExact:
		if path != m.value {
			return false
		}
	case pathRegex:
		if !m.re.MatchString(path) {
			return false
		}
	case pathSeparatedPrefix:
		// The prefix must be the whole path or be followed by '/'.
		if !strings.HasPrefix(path, m.value) || (len(path) > len(m.value) && path[len(m.value)] != '/') {
			return false
		}
	}
	if m.grpc && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		return false
	}
	for _, h := range m.headers {
		if !h.Match(r) {
			return false
		}
	}
	for _, q := range m.query {
		if !q.Match(r) {
			return false
		}
	}
	return true
}

// RewritePath is uri with the route action's prefix_rewrite or
// regex_rewrite applied (uri itself when there is none).
func (rt *Route) RewritePath(uri string) string {
	a := rt.Action
	if !a.hasPrefixRW && a.regexRewrite == nil {
		return uri
	}
	return rewritePath(uri, &rt.m, a.prefixRewrite, a.hasPrefixRW, a.regexRewrite, a.regexSubst)
}

// RedirectLocation is the Location of the route's redirect for r.
func (rt *Route) RedirectLocation(r *http.Request) string { return rt.Redirect.location(r, &rt.m) }

// rewritePath applies prefix_rewrite or regex_rewrite to the path part of
// uri, keeping the query string, as Envoy does.
func rewritePath(uri string, m *Match, prefixRW string, hasPrefix bool, re *regexp.Regexp, subst string) string {
	path, query, hasQ := strings.Cut(uri, "?")
	switch {
	case hasPrefix && (m.kind == pathPrefix || m.kind == pathSeparatedPrefix):
		n := len(m.value)
		if n > len(path) {
			n = len(path)
		}
		path = prefixRW + path[n:]
	case hasPrefix && m.kind == pathExact:
		path = prefixRW
	case re != nil:
		path = re.ReplaceAllString(path, subst)
	}
	if hasQ {
		return path + "?" + query
	}
	return path
}
