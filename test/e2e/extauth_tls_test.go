package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/portico-gw/portico/examples/ext-proc/processor"
)

// tlsAuthorizer runs an authorizer that allows everything, speaking gRPC
// over TLS (a certificate for processor.Hostname) on a unix socket, and
// returns its CA as a ConfigMap named authz-ca.
func tlsAuthorizer(t *testing.T, sock string) (caConfigMap string) {
	t.Helper()
	dir := t.TempDir()
	tlsCfg, err := processor.LoadTLS(dir, processor.Hostname, "default")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	allowAllAuthorizer(t, sock, nil, grpc.Creds(credentials.NewTLS(tlsCfg)))
	return caConfigMapYAML("authz-ca", "default", string(ca))
}

// TestExtAuthOverTLSFromBackendTLSPolicy: a SecurityPolicy's ext_authz
// Backend (a unix socket) with a BackendTLSPolicy is called over TLS,
// verified against the policy's CA and hostname. The same authorizer
// reached through a Backend whose policy names another hostname, or
// through one without a policy (plaintext to a TLS server), cannot be
// asked, so those routes fail closed (403, Envoy's status_on_error) while
// the others serve.
func TestExtAuthOverTLSFromBackendTLSPolicy(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "authz.sock")
	ca := tlsAuthorizer(t, sock)
	gw, bp := freePort(t), backend(t, "backend")
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: %d}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec: {clusterIP: 127.0.0.1, ports: [{name: http, port: %d}]}
`, gw, bp)
	for _, c := range []struct{ name, hostname string }{
		{"verified", processor.Hostname}, {"wrong-name", "other.example.com"}, {"plaintext", ""}} {
		fmt.Fprintf(&b, `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: authz-%[1]s, namespace: default}
spec:
  endpoints: [{unix: {path: %[2]s}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %[1]s, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [%[1]s.example.com]
  rules: [{backendRefs: [{name: backend, port: %[3]d}]}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: %[1]s, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: %[1]s}]
  extAuth:
    grpc:
      backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: authz-%[1]s}]
`, c.name, sock, bp)
		if c.hostname != "" {
			fmt.Fprintf(&b, `---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: authz-%[1]s, namespace: default}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: authz-%[1]s}]
  validation:
    caCertificateRefs: [{group: "", kind: ConfigMap, name: authz-ca}]
    hostname: %[2]s
`, c.name, c.hostname)
		}
	}
	e := startWith(t, opaConfig(), map[string]string{"scenario.yaml": b.String(), "ca.yaml": ca}, gw)
	e.eventually("the route whose authorizer is verified serves", func() bool { return e.bearer("verified.example.com", "") == http.StatusOK })
	for host, want := range map[string]int{"wrong-name.example.com": http.StatusForbidden, "plaintext.example.com": http.StatusForbidden,
		"verified.example.com": http.StatusOK} {
		if got := e.bearer(host, ""); got != want {
			t.Errorf("%s: %d, want %d", host, got, want)
		}
	}
}
