package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// corsRoutes is a Gateway with an HTTPRoute whose rules carry Gateway API
// CORS filters, and a route where a SecurityPolicy's cors and a CORS filter
// meet (the filter wins on its rule).
func corsRoutes(gw, backendPort int) string {
	return fmt.Sprintf(`%s---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: %[2]d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cors, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [cors.example.com]
  rules:
    - matches: [{path: {type: PathPrefix, value: /app}}]
      filters:
        - type: CORS
          cors:
            allowOrigins: ["https://www.foo.com", "https://*.foobar.com"]
            allowMethods: [GET, POST, PUT]
            allowHeaders: [x-header-1]
            exposeHeaders: [x-header-3]
            allowCredentials: true
            maxAge: 3600
      backendRefs: [{name: backend, port: %[3]d}]
    - matches: [{path: {type: PathPrefix, value: /any}}]
      filters:
        - type: CORS
          cors:
            allowOrigins: ["*"]
            allowMethods: ["*"]
      backendRefs: [{name: backend, port: %[3]d}]
    - matches: [{path: {type: PathPrefix, value: /put}, method: PUT}]
      filters:
        - type: CORS
          cors:
            allowOrigins: ["https://www.foo.com"]
            allowMethods: [PUT]
      backendRefs: [{name: backend, port: %[3]d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: both, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [both.example.com]
  rules:
    - matches: [{path: {type: PathPrefix, value: /filter}}]
      filters:
        - type: CORS
          cors:
            allowOrigins: ["https://from-filter.example.com"]
      backendRefs: [{name: backend, port: %[3]d}]
    - matches: [{path: {type: PathPrefix, value: /policy}}]
      backendRefs: [{name: backend, port: %[3]d}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: both, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: both}]
  cors:
    allowOrigins: ["https://from-policy.example.com"]
    allowMethods: [GET]
`, classAndServices(map[string]int{"backend": backendPort}), gw, backendPort)
}

// TestHTTPRouteCORSFilter sends real preflights and real cross-origin
// requests through the built-in proxy to routes with a Gateway API CORS
// filter: a preflight from an allowed origin is answered by the proxy with
// the filter's allow headers, one from another origin gets 200 without
// them (Envoy Gateway does not forward it); an actual request reaches the
// backend and its response carries the origin, credentials and exposed
// headers. A rule that matches one method other than OPTIONS still gets
// its preflights. Where a SecurityPolicy's cors also applies, the
// filter's wins.
func TestHTTPRouteCORSFilter(t *testing.T) {
	gw := freePort(t)
	e := start(t, map[string]string{"all.yaml": corsRoutes(gw, backend(t, "backend"))}, gw)
	e.eventually("the CORS route answers", func() bool {
		code, _, _ := corsDo(t, e, http.MethodGet, "cors.example.com", "/app", "", "")
		return code == http.StatusOK
	})
	type want struct {
		code    int
		backend bool              // the body is the backend's
		headers map[string]string // "" means absent
	}
	none := map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Access-Control-Allow-Credentials": ""}
	cases := []struct {
		name, method, host, path, origin, reqMethod string
		want                                        want
	}{
		{"preflight, exact origin", "OPTIONS", "cors.example.com", "/app", "https://www.foo.com", "PUT", want{200, false, map[string]string{
			"Access-Control-Allow-Origin": "https://www.foo.com", "Access-Control-Allow-Methods": "GET, POST, PUT",
			"Access-Control-Allow-Headers": "x-header-1", "Access-Control-Max-Age": "3600", "Access-Control-Allow-Credentials": "true"}}},
		{"preflight, wildcard origin", "OPTIONS", "cors.example.com", "/app", "https://a.b.foobar.com", "GET", want{200, false, map[string]string{
			"Access-Control-Allow-Origin": "https://a.b.foobar.com"}}},
		{"preflight, the wildcard is not a suffix match", "OPTIONS", "cors.example.com", "/app", "https://foobar.com.evil.org", "GET", want{200, false, none}},
		{"preflight, other origin", "OPTIONS", "cors.example.com", "/app", "https://evil.org", "GET", want{200, false, none}},
		{"request, allowed origin", "GET", "cors.example.com", "/app", "https://www.foo.com", "", want{200, true, map[string]string{
			"Access-Control-Allow-Origin": "https://www.foo.com", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers": "x-header-3", "Access-Control-Allow-Methods": ""}}},
		{"request, other origin", "GET", "cors.example.com", "/app", "https://evil.org", "", want{200, true, none}},
		{"request, no origin", "GET", "cors.example.com", "/app", "", "", want{200, true, none}},
		{"preflight, any origin, default maxAge", "OPTIONS", "cors.example.com", "/any", "http://x.test:8080", "DELETE", want{200, false, map[string]string{
			"Access-Control-Allow-Origin": "http://x.test:8080", "Access-Control-Allow-Methods": "*", "Access-Control-Max-Age": "5",
			"Access-Control-Allow-Credentials": ""}}},
		{"preflight of a PUT-only match (Envoy Gateway's preflight route)", "OPTIONS", "cors.example.com", "/put", "https://www.foo.com", "PUT", want{200, false, map[string]string{
			"Access-Control-Allow-Origin": "https://www.foo.com", "Access-Control-Allow-Methods": "PUT"}}},
		{"request to the PUT-only match", "PUT", "cors.example.com", "/put", "https://www.foo.com", "", want{200, true, map[string]string{
			"Access-Control-Allow-Origin": "https://www.foo.com"}}},
		{"filter wins: its origin", "OPTIONS", "both.example.com", "/filter", "https://from-filter.example.com", "GET", want{200, false, map[string]string{
			"Access-Control-Allow-Origin": "https://from-filter.example.com"}}},
		{"filter wins: the policy's origin is not allowed there", "OPTIONS", "both.example.com", "/filter", "https://from-policy.example.com", "GET", want{200, false, none}},
		{"the policy's rule keeps the policy", "OPTIONS", "both.example.com", "/policy", "https://from-policy.example.com", "GET", want{200, false, map[string]string{
			"Access-Control-Allow-Origin": "https://from-policy.example.com", "Access-Control-Allow-Methods": "GET"}}},
	}
	for _, c := range cases {
		code, h, body := corsDo(t, e, c.method, c.host, c.path, c.origin, c.reqMethod)
		if code != c.want.code {
			t.Errorf("%s: status %d, want %d", c.name, code, c.want.code)
		}
		if fromBackend := strings.Contains(body, `"backend":"backend"`); fromBackend != c.want.backend {
			t.Errorf("%s: answered by the backend = %v, want %v (body %q)", c.name, fromBackend, c.want.backend, body)
		}
		for k, v := range c.want.headers {
			if got := h.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", c.name, k, got, v)
			}
		}
	}
}

// corsDo sends one request; reqMethod, when set, is the preflight's
// Access-Control-Request-Method.
func corsDo(t *testing.T, e *env, method, host, path, origin, reqMethod string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", e.gwPort, path), nil)
	req.Host = host
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if reqMethod != "" {
		req.Header.Set("Access-Control-Request-Method", reqMethod)
		req.Header.Set("Access-Control-Request-Headers", "x-header-1")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
