package gatewayapi

import (
	"strings"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
)

// testCA is a throwaway self-signed CA certificate (its key was not kept),
// for where a PEM certificate must parse.
const testCA = `-----BEGIN CERTIFICATE-----
MIIBjDCCATGgAwIBAgIUMMyhEx3euuTmM3K3NgTXdDwmWa4wCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPcG9ydGljby10ZXN0LWNhMCAXDTI2MTIwNDE0NDUzNloYDzIx
MjYxMTEwMTQ0NTM2WjAaMRgwFgYDVQQDDA9wb3J0aWNvLXRlc3QtY2EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQPdM6M8SF35vM7g7HoQ0mReB6Nc8YdSJXALcIb
t5jth6fPd/KQR59QFPTDE4+ogMwSffchdASEpmIfqB56tw6Do1MwUTAdBgNVHQ4E
FgQUi9kzKjMeL18zhcpg2nerXy5kQEwwHwYDVR0jBBgwFoAUi9kzKjMeL18zhcpg
2nerXy5kQEwwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAl9Ua
0uZVsgbbkfCHyPV3TaRAV8bT7Cym7Z4xulrflX8CIQCXERDjjA587nDYwAa+KZg1
GLF6XQOQOJV98g0CEHoSlg==
-----END CERTIFICATE-----
`

// extProcBase adds the guide's processor Service (TLS on port 9002,
// named port grpc), its CA ConfigMap and a unix socket Backend.
const extProcBase = `
---
apiVersion: v1
kind: Service
metadata: {name: grpc-ext-proc, namespace: default}
spec:
  clusterIP: 127.0.0.1
  ports: [{name: grpc, port: 9002}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: grpc-uds-ext-proc, namespace: default}
spec:
  endpoints: [{unix: {path: /var/run/ext-proc/extproc.sock}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: fqdn-proc, namespace: default}
spec:
  endpoints: [{fqdn: {hostname: proc.example.com, port: 9002}}]
`

func caConfigMap(name, data string) string {
	var b strings.Builder
	b.WriteString("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: default}\ndata:\n  ca.crt: |\n")
	for _, l := range strings.Split(strings.TrimRight(data, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

const guideBTLS = `---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: BackendTLSPolicy
metadata: {name: grpc-ext-proc-btls, namespace: default}
spec:
  targetRefs: [{group: '', kind: Service, name: grpc-ext-proc}]
  validation:
    caCertificateRefs: [{name: grpc-ext-proc-ca, group: '', kind: ConfigMap}]
    hostname: grpc-ext-proc.envoygateway
`

func extProcPolicyYAML(name, target, entries string) string {
	return eepYAML(name, routeTarget(target), "  extProc:\n"+entries)
}

func extProcs(rt *ir.HTTPRoute) []ir.ExtProc {
	if rt == nil || rt.EnvoyExtensions == nil {
		return nil
	}
	return rt.EnvoyExtensions.ExtProcs
}

// The guide's scenario: the processor Service with TLS from a
// BackendTLSPolicy (v1alpha3, as the guide writes it), request headers and
// a streamed response body.
func TestExtProcGuide(t *testing.T) {
	r := luaTranslate(t, extProcBase+caConfigMap("grpc-ext-proc-ca", testCA)+guideBTLS+
		extProcPolicyYAML("ext-proc-example", "backend", "  - backendRefs: [{name: grpc-ext-proc, port: 9002}]\n"+
			"    processingMode: {request: {}, response: {body: Streamed}}\n"), Options{EnableBackend: true})
	if c := accepted(t, r, "ext-proc-example"); c.Status != "True" || c.Message != msgEEPAccepted {
		t.Fatalf("policy: %+v", c)
	}
	rs := irRoutes(r)
	ps := extProcs(rs[backendRoute])
	if len(ps) != 1 || len(extProcs(rs[namedRoute])) != 1 || extProcs(rs[otherRoute]) != nil {
		t.Fatalf("processors: backend %v, other %v", ps, extProcs(rs[otherRoute]))
	}
	p := ps[0]
	name := "envoyextensionpolicy/default/ext-proc-example/extproc/0"
	if p.Name != name || p.Destination.Name != name || p.Authority != "grpc-ext-proc.default:9002" ||
		!p.RequestHeaderProcessing || !p.ResponseHeaderProcessing || p.RequestBodyProcessingMode != nil ||
		p.ResponseBodyProcessingMode == nil || *p.ResponseBodyProcessingMode != "Streamed" {
		t.Fatalf("processor %+v", p)
	}
	st := p.Destination.Settings
	if len(st) != 1 || st[0].Name != name+"/backend/0" || st[0].Protocol != "GRPC" || len(st[0].Endpoints) != 1 ||
		st[0].Endpoints[0].Host != "127.0.0.1" || st[0].Endpoints[0].Port != 9002 {
		t.Fatalf("settings %+v", st[0])
	}
	tls := st[0].TLS
	if tls == nil || tls.SNI == nil || *tls.SNI != "grpc-ext-proc.envoygateway" || tls.CACertificate == nil ||
		tls.CACertificate.Name != "grpc-ext-proc-btls/default-ca" || string(tls.CACertificate.Certificate) != testCA {
		t.Fatalf("tls %+v", tls)
	}
	// The BackendTLSPolicy's ancestor is the EnvoyExtensionPolicy.
	b := r.BackendTLSPolicies[0]
	if len(b.Status.Ancestors) != 1 || string(*b.Status.Ancestors[0].AncestorRef.Kind) != "EnvoyExtensionPolicy" ||
		b.Status.Ancestors[0].AncestorRef.Name != "ext-proc-example" {
		t.Fatalf("BackendTLSPolicy ancestors %+v", b.Status.Ancestors)
	}
	for _, c := range b.Status.Ancestors[0].Conditions {
		if c.Status != "True" {
			t.Errorf("BackendTLSPolicy condition %+v", c)
		}
	}
}

// Every field reaches the IR: body modes, attributes, metadata, timeouts,
// shadow mode, status on error; weights and fallback on the settings; a
// unix socket Backend.
func TestExtProcFields(t *testing.T) {
	r := luaTranslate(t, extProcBase+extProcPolicyYAML("p", "backend", `  - backendRefs:
    - {name: grpc-ext-proc, port: 9002, weight: 3}
    - {name: grpc-ext-proc, port: 9002, fallback: true}
    messageTimeout: 5s
    failOpen: true
    statusOnError: 503
    processingMode:
      request: {body: Buffered, attributes: [xds.route_name, request.path]}
      response: {body: BufferedPartial, attributes: [response.code]}
      allowModeOverride: true
    metadata: {accessibleNamespaces: [envoy.filters.http.rbac], writableNamespaces: [io.example]}
  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: grpc-uds-ext-proc}]
    processingMode: {request: {body: FullDuplexStreamed}}
`), Options{EnableBackend: true})
	if c := accepted(t, r, "p"); c.Status != "True" {
		t.Fatalf("policy: %+v", c)
	}
	ps := extProcs(irRoutes(r)[backendRoute])
	if len(ps) != 2 {
		t.Fatalf("processors %+v", ps)
	}
	a, b := ps[0], ps[1]
	if *a.MessageTimeout != "5s" || !*a.FailOpen || *a.StatusOnError != 503 || *a.RequestBodyProcessingMode != "Buffered" ||
		*a.ResponseBodyProcessingMode != "BufferedPartial" || strings.Join(a.RequestAttributes, ",") != "xds.route_name,request.path" ||
		strings.Join(a.ResponseAttributes, ",") != "response.code" || !a.AllowModeOverride ||
		a.ForwardingMetadataNamespaces[0] != "envoy.filters.http.rbac" || a.ReceivingMetadataNamespaces[0] != "io.example" {
		t.Fatalf("first %+v", a)
	}
	s := a.Destination.Settings
	if *s[0].Weight != 3 || s[0].Priority != nil || *s[1].Weight != 1 || s[1].Priority == nil || *s[1].Priority != 1 {
		t.Fatalf("weights/priority %+v %+v", s[0], s[1])
	}
	if b.Authority != "grpc-uds-ext-proc.default" || b.Destination.Settings[0].Endpoints[0].Path == nil ||
		*b.Destination.Settings[0].Endpoints[0].Path != "/var/run/ext-proc/extproc.sock" || b.ResponseHeaderProcessing {
		t.Fatalf("unix %+v", b)
	}
}

// Bad input: each entry gets Envoy Gateway's message, its routes answer
// 500 (or, with failOpen, serve without it), and other routes are
// untouched.
func TestExtProcBadInput(t *testing.T) {
	cases := []struct{ name, entry, want string }{
		{"missing-service", "  - backendRefs: [{name: nope, port: 9002}]\n", "ExtProc: service default/nope not found."},
		{"no-port", "  - backendRefs: [{name: grpc-ext-proc}]\n", "ExtProc: a valid port number corresponding to a port on the Service must be specified."},
		{"wrong-port", "  - backendRefs: [{name: grpc-ext-proc, port: 1}]\n", "ExtProc: TCP Port 1 not found on service default/grpc-ext-proc."},
		{"missing-backend", "  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: nope}]\n", "ExtProc: backend default/nope not found."},
		{"cross-namespace", "  - backendRefs: [{name: grpc-ext-proc, namespace: other, port: 9002}]\n", "ExtProc: backend ref to Service other/grpc-ext-proc not permitted by any ReferenceGrant."},
		{"singular-ref", "  - backendRef: {name: grpc-ext-proc, port: 9002}\n", "ExtProc: BackendRefs must be used, backendRef is not supported."},
		{"mixed", "  - backendRefs: [{name: grpc-ext-proc, port: 9002}, {group: gateway.envoyproxy.io, kind: Backend, name: grpc-uds-ext-proc}]\n",
			"ExtProc: external service destinations having multiple endpoint types are not supported."},
		{"full-duplex-fail-open", "  - backendRefs: [{name: grpc-ext-proc, port: 9002}]\n    processingMode: {request: {body: FullDuplexStreamed}}\n    failOpen: true\n",
			"ExtProc: If FullDuplexStreamed body processing mode is used, FailOpen must be false."},
		{"attribute", "  - backendRefs: [{name: grpc-ext-proc, port: 9002}]\n    processingMode: {request: {attributes: [foo.bar]}}\n", `ExtProc: attribute "foo.bar" is not one Envoy provides`},
		{"writable", "  - backendRefs: [{name: grpc-ext-proc, port: 9002}]\n    metadata: {writableNamespaces: [envoy.filters.http.rbac]}\n",
			"ExtProc: writableNamespaces cannot contain well-known Envoy HTTP filter namespaces."},
		{"timeout", "  - backendRefs: [{name: grpc-ext-proc, port: 9002}]\n    messageTimeout: 0s\n", "ExtProc: invalid ExtProc MessageTimeout value 0s."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := luaTranslate(t, extProcBase+extProcPolicyYAML("p", "backend", tc.entry), Options{EnableBackend: true})
			c := accepted(t, r, "p")
			if c.Status != "False" || c.Reason != string(gwapiv1.PolicyReasonInvalid) || !strings.Contains(c.Message, tc.want) {
				t.Fatalf("condition %+v\nwant %q", c, tc.want)
			}
			rs := irRoutes(r)
			failOpen := strings.Contains(tc.entry, "failOpen: true")
			if got500 := rs[backendRoute].DirectResponse != nil; got500 == failOpen {
				t.Fatalf("backend route 500=%v with failOpen=%v", got500, failOpen)
			}
			if rs[otherRoute].DirectResponse != nil || rs[apiRoute].DirectResponse != nil {
				t.Fatal("routes the policy does not target must keep serving")
			}
		})
	}
	// The Backend API off: Envoy Gateway's message.
	r := luaTranslate(t, extProcBase+extProcPolicyYAML("p", "backend", "  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: grpc-uds-ext-proc}]\n"), Options{})
	if c := accepted(t, r, "p"); !strings.Contains(c.Message, "ExtProc: resource grpc-uds-ext-proc of type Backend cannot be used since Backend is disabled in Envoy Gateway configuration.") {
		t.Fatalf("condition %+v", c)
	}
}

// A failOpen entry that cannot be built is left out; the policy's other
// entries still apply.
func TestExtProcFailOpenEntryLeftOut(t *testing.T) {
	r := luaTranslate(t, extProcBase+extProcPolicyYAML("p", "backend",
		"  - backendRefs: [{name: nope, port: 9002}]\n    failOpen: true\n  - backendRefs: [{name: grpc-ext-proc, port: 9002}]\n"),
		Options{})
	ps := extProcs(irRoutes(r)[backendRoute])
	if len(ps) != 1 || ps[0].Name != "envoyextensionpolicy/default/p/extproc/1" {
		t.Fatalf("processors %+v", ps)
	}
	if c := accepted(t, r, "p"); c.Status != "False" || !strings.Contains(c.Message, "service default/nope not found") {
		t.Fatalf("condition %+v", c)
	}
}
