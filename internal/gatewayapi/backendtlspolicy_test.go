package gatewayapi

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func btlsYAML(name, created, targets, validation string) string {
	meta := "{name: " + name + ", namespace: default"
	if created != "" {
		meta += ", creationTimestamp: '" + created + "'"
	}
	return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: " + meta + "}\nspec:\n  targetRefs: " +
		targets + "\n  validation:\n" + validation
}

const (
	svcBackend  = "[{group: '', kind: Service, name: backend}]"
	caValid     = "    caCertificateRefs: [{name: ca, group: '', kind: ConfigMap}]\n    hostname: backend.example.com\n"
	systemValid = "    wellKnownCACertificates: System\n    hostname: backend.example.com\n"
)

func btlsStatus(t *testing.T, r *Result, name string) []gwapiv1.PolicyAncestorStatus {
	t.Helper()
	for _, p := range r.BackendTLSPolicies {
		if p.Name == name {
			return p.Status.Ancestors
		}
	}
	t.Fatalf("%s: no status", name)
	return nil
}

func condOf(conds []metav1.Condition, typ string) metav1.Condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// A valid policy puts TLS on every route backend of its target, names the
// Gateway (as the route's parentRef names it) as ancestor, and is accepted.
func TestBackendTLSPolicyRoutes(t *testing.T) {
	r := luaTranslate(t, caConfigMap("ca", testCA)+btlsYAML("p", "", svcBackend, caValid+
		"    subjectAltNames: [{type: Hostname, hostname: alt.example.com}, {type: URI, uri: 'spiffe://td/ns/x'}]\n"), Options{})
	for name, rt := range irRoutes(r) {
		tls := rt.Destination.Settings[0].TLS
		if rt.DirectResponse != nil || tls == nil || *tls.SNI != "backend.example.com" || tls.CACertificate.Name != "p/default-ca" ||
			len(tls.SubjectAltNames) != 2 || *tls.SubjectAltNames[0].Hostname != "alt.example.com" || *tls.SubjectAltNames[1].URI != "spiffe://td/ns/x" {
			t.Fatalf("%s: %+v %+v", name, rt.DirectResponse, tls)
		}
	}
	anc := btlsStatus(t, r, "p")
	if len(anc) != 2 { // the route parentRefs name sections http and api
		t.Fatalf("ancestors %+v", anc)
	}
	for _, a := range anc {
		if a.AncestorRef.Name != "eg" || condOf(a.Conditions, "Accepted").Status != "True" || condOf(a.Conditions, "ResolvedRefs").Status != "True" {
			t.Fatalf("ancestor %+v", a)
		}
	}
}

// Invalid policies: Envoy Gateway's or Gateway API's reasons and messages;
// the routes to the target fail closed (ResolvedRefs=False, 500) and every
// other route keeps serving.
func TestBackendTLSPolicyInvalid(t *testing.T) {
	cases := []struct {
		name, extra, validation string
		accepted, resolved      string
		msg                     string
	}{
		{"missing-configmap", "", caValid, "NoValidCACertificate", "InvalidCACertificateRef", "configmap ca not found in namespace default"},
		{"not-pem", caConfigMap("ca", "just some text"), caValid, "NoValidCACertificate", "InvalidCACertificateRef",
			"the CA certificate in configmap ca is invalid: no PEM certificate found"},
		{"no-ca-key", "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ca, namespace: default}\ndata: {a: x, b: y}\n", caValid,
			"NoValidCACertificate", "InvalidCACertificateRef", "no ca found in configmap ca"},
		{"bad-kind", "", "    caCertificateRefs: [{name: ca, group: example.com, kind: Bundle}]\n    hostname: h\n", "NoValidCACertificate", "InvalidKind",
			"caCertificateRef example.com/Bundle ca: only ConfigMap and Secret are supported"},
		{"missing-secret", "", "    caCertificateRefs: [{name: ca, group: '', kind: Secret}]\n    hostname: h\n", "NoValidCACertificate", "InvalidCACertificateRef",
			"secret ca not found in namespace default"},
		{"both", caConfigMap("ca", testCA), caValid + "    wellKnownCACertificates: System\n", "Invalid", "",
			"must not contain both CACertificateRefs and WellKnownCACertificates"},
		{"neither", "", "    hostname: h\n", "Invalid", "", "must specify either CACertificateRefs or WellKnownCACertificates"},
		{"san", "", systemValid + "    subjectAltNames: [{type: URI, hostname: x}]\n", "Invalid", "", "SubjectAltName element must contain URI, if Type is set to URI"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := luaTranslate(t, tc.extra+btlsYAML("p", "", svcBackend, tc.validation)+
				"---\napiVersion: v1\nkind: Service\nmetadata: {name: plain, namespace: default}\nspec: {clusterIP: 10.0.0.9, ports: [{port: 80}]}\n"+
				"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: plain, namespace: default}\n"+
				"spec: {parentRefs: [{name: eg, sectionName: http}], hostnames: [plain.example.com], rules: [{backendRefs: [{name: plain, port: 80}]}]}\n", Options{})
			anc := btlsStatus(t, r, "p")
			if len(anc) == 0 {
				t.Fatal("no ancestors")
			}
			acc, res := condOf(anc[0].Conditions, "Accepted"), condOf(anc[0].Conditions, "ResolvedRefs")
			if acc.Status != "False" || acc.Reason != tc.accepted || !strings.Contains(acc.Message, tc.msg) {
				t.Fatalf("Accepted %+v", acc)
			}
			if tc.resolved != "" && (res.Status != "False" || res.Reason != tc.resolved) {
				t.Fatalf("ResolvedRefs %+v", res)
			}
			rs := irRoutes(r)
			if d := rs[backendRoute].DirectResponse; d == nil || d.StatusCode != 500 {
				t.Fatalf("route to the target must answer 500: %+v", rs[backendRoute])
			}
			for _, hr := range r.HTTPRoutes {
				c := condOf(hr.Status.Parents[0].Conditions, "ResolvedRefs")
				if hr.Name == "plain" {
					if c.Status != "True" || rs["httproute/default/plain/rule/0/match/0/plain_example_com"].DirectResponse != nil {
						t.Fatalf("unrelated route affected: %+v", c)
					}
					continue
				}
				if c.Status != "False" || c.Reason != string(reasonInvalidBackendTLS) || !strings.Contains(c.Message, "BackendTLSPolicy default/p for Service default/backend is invalid") {
					t.Fatalf("route %s ResolvedRefs %+v", hr.Name, c)
				}
			}
		})
	}
}

// A policy on the Service port (sectionName) wins over one on the whole
// Service; two policies on one target: the older wins, the other is
// Conflicted; a policy whose target does not exist says so.
func TestBackendTLSPolicyPrecedence(t *testing.T) {
	r := luaTranslate(t, btlsYAML("whole", "2026-01-01T00:00:00Z", svcBackend, systemValid)+
		btlsYAML("port", "2026-01-02T00:00:00Z", "[{group: '', kind: Service, name: backend, sectionName: http}]",
			"    wellKnownCACertificates: System\n    hostname: port.example.com\n")+
		btlsYAML("younger", "2026-01-03T00:00:00Z", svcBackend, systemValid)+
		btlsYAML("orphan", "", "[{group: '', kind: Service, name: nope}]", systemValid)+
		btlsYAML("bad-section", "", "[{group: '', kind: Service, name: backend, sectionName: grpc}]", systemValid), Options{})
	if sni := *irRoutes(r)[backendRoute].Destination.Settings[0].TLS.SNI; sni != "port.example.com" {
		t.Fatalf("sni %q: the port's policy must win", sni)
	}
	c := condOf(btlsStatus(t, r, "younger")[0].Conditions, "Accepted")
	if c.Status != "False" || c.Reason != "Conflicted" || c.Message != "Policy conflicts with BackendTLSPolicy default/whole." {
		t.Fatalf("younger %+v", c)
	}
	c = condOf(btlsStatus(t, r, "orphan")[0].Conditions, "Accepted")
	if c.Status != "False" || c.Reason != "TargetNotFound" || c.Message != "Service default/nope not found." {
		t.Fatalf("orphan %+v", c)
	}
	c = condOf(btlsStatus(t, r, "bad-section")[0].Conditions, "Accepted")
	if c.Reason != "TargetNotFound" || c.Message != "Service default/backend has no port named grpc." {
		t.Fatalf("bad-section %+v", c)
	}
}

// A Backend target, and the output is the same on a second run.
func TestBackendTLSPolicyBackendTarget(t *testing.T) {
	docs := extProcBase + btlsYAML("p", "", "[{group: gateway.envoyproxy.io, kind: Backend, name: fqdn-proc}]", systemValid) +
		extProcPolicyYAML("e", "backend", "  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: fqdn-proc}]\n")
	r := luaTranslate(t, docs, Options{EnableBackend: true})
	tls := extProcs(irRoutes(r)[backendRoute])[0].Destination.Settings[0].TLS
	if tls == nil || !tls.UseSystemTrustStore || *tls.SNI != "backend.example.com" {
		t.Fatalf("tls %+v", tls)
	}
	if a := btlsStatus(t, r, "p"); len(a) != 1 || string(*a[0].AncestorRef.Kind) != "EnvoyExtensionPolicy" {
		t.Fatalf("ancestors %+v", a)
	}
}
