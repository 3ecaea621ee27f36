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
