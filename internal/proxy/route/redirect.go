package route

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// location builds a redirect's Location header the way Envoy does: scheme,
// host, port and path are each replaced only when configured.
func (rd *Redirect) location(r *http.Request, m *Match) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	origScheme := scheme
	if rd.scheme != "" {
		scheme = rd.scheme
	}
	host, port := r.Host, ""
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host, port = h, p
	}
	if rd.host != "" {
		// Envoy drops the request's port when host_redirect is set without
		// port_redirect (a known, long-standing behaviour).
		host, port = rd.host, ""
		if h, p, err := net.SplitHostPort(rd.host); err == nil {
			host, port = h, p
		}
	}
	if rd.port != 0 {
		port = strconv.Itoa(int(rd.port))
	} else if scheme != origScheme && ((origScheme == "http" && port == "80") || (origScheme == "https" && port == "443")) {
		// Envoy's documented rule: a scheme change drops the port only
		// when it was explicitly the source scheme's default.
		port = ""
	}
	uri := r.URL.RequestURI()
	switch {
	case rd.path != "":
		q := ""
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			q = uri[i:]
		}
		uri = rd.path
		if !strings.Contains(rd.path, "?") {
			uri += q
		}
	case rd.hasPrefixRW || rd.regex != nil:
		uri = rewritePath(uri, m, rd.prefixRewrite, rd.hasPrefixRW, rd.regex, rd.subst)
	}
	if rd.stripQuery {
		uri, _, _ = strings.Cut(uri, "?")
	}
	hp := host
	if port != "" {
		hp = net.JoinHostPort(host, port)
	}
	return scheme + "://" + hp + uri
}
