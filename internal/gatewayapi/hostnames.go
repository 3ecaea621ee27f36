package gatewayapi

import (
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// intersectHostnames returns the hostnames a route serves on a listener, per
// Gateway API: a listener without a hostname takes the route's; a route
// without hostnames takes the listener's; wildcards match one or more
// leading labels, and the more specific of two matching names wins.
func intersectHostnames(listener string, route []gwapiv1.Hostname) []string {
	if len(route) == 0 {
		if listener == "" {
			return []string{"*"}
		}
		return []string{listener}
	}
	var out []string
	seen := map[string]bool{}
	for _, h := range route {
		rh := string(h)
		var got string
		switch {
		case listener == "":
			got = rh
		case rh == listener:
			got = rh
		case wildcardMatches(listener, rh):
			got = rh
		case wildcardMatches(rh, listener):
			got = listener
		}
		if got != "" && !seen[got] {
			seen[got] = true
			out = append(out, got)
		}
	}
	return out
}

// wildcardMatches reports whether pattern ("*.example.com") covers host
// ("a.b.example.com" or the narrower wildcard "*.b.example.com").
func wildcardMatches(pattern, host string) bool {
	if !strings.HasPrefix(pattern, "*.") {
		return false
	}
	suffix := pattern[1:] // ".example.com"
	if strings.HasPrefix(host, "*.") {
		return strings.HasSuffix(host[1:], suffix) && len(host[1:]) > len(suffix)
	}
	return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
}
