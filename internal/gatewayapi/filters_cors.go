package gatewayapi

import (
	"regexp"
	"strconv"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
)

// routeCORS is Envoy Gateway's translation of the Gateway API CORS filter:
// the same IR as a SecurityPolicy's cors, kept on the route (ir.HTTPRoute.CORS)
// where it wins over a SecurityPolicy's. An origin with "*" becomes a regex
// in which only "*" is a wildcard ("*" alone matches any origin); methods
// and headers are kept as written (the xDS translator collapses a "*");
// maxAge is in seconds and always set: the schema defaults it to 5, and
// Envoy Gateway writes what it finds, 0 included.
func routeCORS(c *gwapiv1.HTTPCORSFilter) *ir.CORS {
	out := &ir.CORS{MaxAge: ptr(strconv.Itoa(int(c.MaxAge)))}
	if c.AllowCredentials != nil {
		out.AllowCredentials = *c.AllowCredentials
	}
	for _, o := range c.AllowOrigins {
		out.AllowOrigins = append(out.AllowOrigins, originMatch(string(o)))
	}
	for _, m := range c.AllowMethods {
		out.AllowMethods = append(out.AllowMethods, string(m))
	}
	for _, h := range c.AllowHeaders {
		out.AllowHeaders = append(out.AllowHeaders, string(h))
	}
	for _, h := range c.ExposeHeaders {
		out.ExposeHeaders = append(out.ExposeHeaders, string(h))
	}
	return out
}

// originMatch matches an allowed origin exactly, or as a regex where each
// "*" is any run of characters.
func originMatch(o string) *ir.StringMatch {
	if strings.Contains(o, "*") {
		return &ir.StringMatch{SafeRegex: ptr(strings.ReplaceAll(regexp.QuoteMeta(o), `\*`, ".*"))}
	}
	return &ir.StringMatch{Exact: ptr(o)}
}

// corsPreflights follows each match that names a method other than OPTIONS
// with the match of its CORS preflights, as Envoy Gateway does for a rule
// with a CORS filter: the same path, query and headers, but method OPTIONS
// and any Origin and Access-Control-Request-Method. Without it a browser's
// preflight would find no route (gateway-api issue 3857).
func corsPreflights(ms []routeMatch) []routeMatch {
	out := make([]routeMatch, 0, len(ms))
	for _, m := range ms {
		out = append(out, m)
		method := ""
		for _, h := range m.headers {
			if h.Name == ":method" && h.Exact != nil {
				method = *h.Exact
			}
		}
		if method == "" || method == "OPTIONS" {
			continue
		}
		pre := routeMatch{path: m.path, query: m.query, preflight: true}
		for _, h := range m.headers {
			if h.Name != ":method" {
				pre.headers = append(pre.headers, h)
			}
		}
		pre.headers = append(pre.headers,
			ir.StringMatch{Name: ":method", Exact: ptr("OPTIONS")},
			ir.StringMatch{Name: "origin", SafeRegex: ptr(".*")},
			ir.StringMatch{Name: "access-control-request-method", SafeRegex: ptr(".*")})
		out = append(out, pre)
	}
	return out
}
