package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters/jwtauthn/jwttest"
)

// securityParts is one Gateway with a route per SecurityPolicy part, and
// routes whose policies have bad input: an unreachable JWKS, an authorizer
// that answers too late. host <name>.example.com reaches route <name>.
func securityParts(gw, backendPort int, jwks, deadJWKS, slowSock string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `%s---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: %d}]
---
apiVersion: v1
kind: Secret
metadata: {name: api-keys, namespace: default}
data: {client1: a2V5MQ==, client2: a2V5Mg==}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: slow-authz, namespace: default}
spec:
  endpoints: [{unix: {path: %s}}]
`, classAndServices(map[string]int{"backend": backendPort}), gw, slowSock)
	route := func(name string) {
		fmt.Fprintf(&b, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %s, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [%s.example.com]
  rules: [{backendRefs: [{name: backend, port: %d}]}]
`, name, name, backendPort)
	}
	policy := func(name, body string) {
		route(name)
		fmt.Fprintf(&b, `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: %s, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: %s}]
%s`, name, name, body)
	}
	for _, p := range securityPartPolicies(jwks, deadJWKS) {
		policy(p[0], p[1])
	}
	route("open")
	return b.String()
}

// securityPartPolicies are the policies of securityParts, by route name.
func securityPartPolicies(jwks, deadJWKS string) [][2]string {
	return [][2]string{
		{"cors", `  cors:
    allowOrigins: ["https://*.example.org"]
    allowMethods: [GET, POST]
    maxAge: 1m
`},
		{"apikey", `  apiKeyAuth:
    credentialRefs: [{name: api-keys}]
    extractFrom: [{headers: [x-api-key]}]
`},
		{"authz", fmt.Sprintf(`  jwt:
    optional: true
    providers:
      - name: example
        remoteJWKS: {uri: "%s"}
  authorization:
    defaultAction: Deny
    rules:
      - name: local-admins
        action: Allow
        principal:
          clientCIDRs: [127.0.0.0/8]
          headers: [{name: x-role, values: [admin]}]
      - name: readers
        action: Allow
        principal:
          jwt: {provider: example, scopes: [read]}
`, jwks)},
		{"deadjwks", fmt.Sprintf(`  jwt:
    providers:
      - name: example
        remoteJWKS: {uri: "%s"}
`, deadJWKS)},
		{"slowauthz", `  extAuth:
    timeout: 200ms
    grpc:
      backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: slow-authz}]
`},
		{"httpsjwks", fmt.Sprintf(`  jwt:
    providers:
      - name: example
        remoteJWKS: {uri: "%s"}
`, strings.Replace(deadJWKS, "http://", "https://", 1))},
	}
}

// TestSecurityPolicyParts sends requests through the built-in proxy to a
// route per SecurityPolicy part, and shows that bad input (a JWKS server
// that is down, an authorizer slower than its timeout) fails only its own
// routes, as Envoy answers.
func TestSecurityPolicyParts(t *testing.T) {
	key := jwttest.NewKey("k1", "ES256")
	jwks := jwksServer(t, key)
	deadJWKS := fmt.Sprintf("http://127.0.0.1:%d/jwks.json", freePort(t))
	slowSock := filepath.Join(t.TempDir(), "slow.sock")
	slowAuthorizer(t, slowSock, time.Second)
	gw := freePort(t)
	e := startWith(t, opaConfig(), map[string]string{"all.yaml": securityParts(gw, backend(t, "backend"), jwks, deadJWKS, slowSock)}, gw)
	e.eventually("the open route answers", func() bool { return e.bearer("open.example.com", "") == http.StatusOK })

	reader := key.Sign(map[string]any{"iss": "x", "scope": "read write"})
	writer := key.Sign(map[string]any{"iss": "x", "scope": "write"})
	cases := []struct {
		name string
		host string
		tok  string
		hdr  []string
		want int
	}{
		{"api key missing", "apikey", "", nil, 401},
		{"api key unknown", "apikey", "", []string{"X-Api-Key", "nope"}, 401},
		{"api key known", "apikey", "", []string{"X-Api-Key", "key2"}, 200},
		{"authorization: local admin", "authz", "", []string{"X-Role", "admin"}, 200},
		{"authorization: local, not admin", "authz", "", []string{"X-Role", "user"}, 403},
		{"authorization: reader scope", "authz", reader, nil, 200},
		{"authorization: token without the scope", "authz", writer, nil, 403},
		{"authorization: invalid token", "authz", reader + "x", nil, 401},
		{"JWKS server down", "deadjwks", reader, nil, 401},
		{"https JWKS server down", "httpsjwks", reader, nil, 401},
		{"authorizer slower than the timeout", "slowauthz", "", nil, 403},
		{"the route without a policy", "open", "", nil, 200},
	}
	for _, c := range cases {
		if got := e.bearer(c.host+".example.com", c.tok, c.hdr...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// CORS: a preflight from an allowed origin is answered by the proxy.
	req, _ := http.NewRequest(http.MethodOptions, fmt.Sprintf("http://127.0.0.1:%d/get", gw), nil)
	req.Host = "cors.example.com"
	req.Header.Set("Origin", "https://app.example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.org" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, POST" || resp.Header.Get("Access-Control-Max-Age") != "60" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}
