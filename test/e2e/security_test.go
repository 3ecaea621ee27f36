package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// oidcPolicyAndRoute is a route guarded by an OIDC SecurityPolicy, which
// Portico cannot enforce yet: it must fail closed (500), never serve
// unguarded.
const oidcPolicyAndRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: oidc-guarded
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path: {type: Exact, value: /oidc}
    backendRefs:
    - {name: infra-backend-v1, port: 8080}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata:
  name: oidc
  namespace: gateway-conformance-infra
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: oidc-guarded}
  oidc:
    provider: {issuer: https://accounts.example.com}
    clientID: portico
    clientSecret: {name: client-secret}
`

// TestSecurityPoliciesEnforcedOrFailClosed runs Envoy Gateway's basic-auth
// e2e manifest (internal/translate/testdata/e2e, unchanged) through the
// built-in proxy: routes with a basicAuth policy demand credentials, the
// route without one stays open, and a route whose policy Portico cannot
// enforce (OIDC) answers 500 instead of serving anyone.
func TestSecurityPoliciesEnforcedOrFailClosed(t *testing.T) {
	manifest, err := os.ReadFile("../../internal/translate/testdata/e2e/basic-auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bp := backend(t, "infra-backend-v1")
	gw := freePort(t)
	e := start(t, map[string]string{
		"infra.yaml": egLuaInfra(gw, bp), "basic-auth.yaml": string(manifest), "oidc.yaml": oidcPolicyAndRoute,
	}, gw)
	e.eventually("/no-basic-auth answers", func() bool {
		code, _ := e.header("", "/no-basic-auth", "x")
		return code == http.StatusOK
	})
	cases := []struct {
		path, user, password string
		want                 int
	}{
		{"/basic-auth-1", "", "", http.StatusUnauthorized},
		{"/basic-auth-1", "user1", "test1", http.StatusOK},
		{"/basic-auth-1", "user1", "wrong", http.StatusUnauthorized},
		{"/basic-auth-2", "user1", "test1", http.StatusUnauthorized}, // another policy's users
		{"/no-basic-auth", "", "", http.StatusOK},
		{"/oidc", "", "", http.StatusInternalServerError},
	}
	for _, c := range cases {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", gw, c.path), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.user != "" {
			req.SetBasicAuth(c.user, c.password)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s as %q: %d, want %d", c.path, c.user, resp.StatusCode, c.want)
		}
	}
	_, st := e.admin("/status")
	for _, want := range []string{
		"spec.oidc is not supported by Portico yet; the routes this SecurityPolicy applies to answer 500",
		`"kind": "SecurityPolicy"`,
	} {
		if !strings.Contains(string(st), want) {
			t.Errorf("/status lacks %q:\n%.3000s", want, st)
		}
	}
}
