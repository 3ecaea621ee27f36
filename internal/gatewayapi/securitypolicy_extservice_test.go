package gatewayapi

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-gw/portico/internal/ir"
)

// The external services of a SecurityPolicy (ext_authz servers, remote
// JWKS) are resolved as ext_proc's are: Envoy Gateway's cluster names and
// authorities, and the BackendTLSPolicy of each backend, with the
// SecurityPolicy as its ancestor.

func spYAML(name, spec string) string {
	return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: " + name +
		", namespace: default}\nspec:\n" + routeTarget("backend") + spec
}

// btlsOn is a BackendTLSPolicy with the test CA on one target.
func btlsOn(name, target, hostname string) string {
	return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {name: " + name +
		", namespace: default}\nspec:\n  targetRefs: [" + target + "]\n  validation:\n" +
		"    caCertificateRefs: [{name: grpc-ext-proc-ca, group: '', kind: ConfigMap}]\n    hostname: " + hostname + "\n"
}

func spStatus(t *testing.T, r *Result, name string) metav1.Condition {
	t.Helper()
	for _, p := range r.SecurityPolicies {
		if p.Name == name {
			if len(p.Status.Ancestors) == 0 {
				t.Fatalf("%s: no ancestors", name)
			}
			return condOf(p.Status.Ancestors[0].Conditions, "Accepted")
		}
	}
	t.Fatalf("%s: no status", name)
	return metav1.Condition{}
}

// btlsAncestors lists a BackendTLSPolicy's ancestors as Kind/name.
func btlsAncestors(t *testing.T, r *Result, name string) string {
	t.Helper()
	var out []string
	for _, a := range btlsStatus(t, r, name) {
		out = append(out, string(*a.AncestorRef.Kind)+"/"+string(a.AncestorRef.Name))
	}
	return strings.Join(out, ",")
}

func wantCATLS(t *testing.T, what string, st []*ir.DestinationSetting, policy, sni string) {
	t.Helper()
	if len(st) == 0 {
		t.Fatalf("%s: no settings", what)
	}
	tls := st[0].TLS
	if tls == nil || tls.SNI == nil || *tls.SNI != sni || tls.CACertificate == nil || tls.CACertificate.Name != policy+"/default-ca" ||
		tls.UseSystemTrustStore {
		t.Fatalf("%s: TLS %+v, want the CA of BackendTLSPolicy %s and SNI %s", what, tls, policy, sni)
	}
}

func TestSecurityPolicyExtServicesUseBackendTLSPolicy(t *testing.T) {
	docs := extProcBase + caConfigMap("grpc-ext-proc-ca", testCA) +
		btlsOn("uds-btls", "{group: gateway.envoyproxy.io, kind: Backend, name: grpc-uds-ext-proc}", "authz.example") +
		btlsOn("svc-btls", "{group: '', kind: Service, name: grpc-ext-proc}", "grpc-ext-proc.envoygateway") +
		btlsOn("fqdn-btls", "{group: gateway.envoyproxy.io, kind: Backend, name: fqdn-proc}", "proc.example.com")
	cases := []struct {
		name, spec               string
		cluster, authority, btls string
		sni, protocol            string
		settings                 func(*ir.SecurityFeatures) []*ir.DestinationSetting
		gotAuthority             func(*ir.SecurityFeatures) string
	}{
		{
			name: "grpc-uds", spec: "  extAuth:\n    grpc:\n      backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: grpc-uds-ext-proc}]\n",
			cluster: "securitypolicy/default/grpc-uds/extauth/0", authority: "grpc-uds-ext-proc.default", btls: "uds-btls",
			sni: "authz.example", protocol: "GRPC",
			settings:     func(s *ir.SecurityFeatures) []*ir.DestinationSetting { return s.ExtAuth.GRPC.Destination.Settings },
			gotAuthority: func(s *ir.SecurityFeatures) string { return s.ExtAuth.GRPC.Authority },
		},
		{
			name: "http-svc", spec: "  extAuth:\n    http:\n      backendRefs: [{name: grpc-ext-proc, port: 9002}]\n      path: /check\n",
			cluster: "securitypolicy/default/http-svc/extauth/0", authority: "grpc-ext-proc.default:9002", btls: "svc-btls",
			sni: "grpc-ext-proc.envoygateway", protocol: "HTTP",
			settings:     func(s *ir.SecurityFeatures) []*ir.DestinationSetting { return s.ExtAuth.HTTP.Destination.Settings },
			gotAuthority: func(s *ir.SecurityFeatures) string { return s.ExtAuth.HTTP.Authority },
		},
		{
			// The deprecated backendRef still works for extAuth.
			name: "http-fqdn", spec: "  extAuth:\n    http:\n      backendRef: {group: gateway.envoyproxy.io, kind: Backend, name: fqdn-proc}\n",
			cluster: "securitypolicy/default/http-fqdn/extauth/0", authority: "proc.example.com:9002", btls: "fqdn-btls",
			sni: "proc.example.com", protocol: "HTTP",
			settings:     func(s *ir.SecurityFeatures) []*ir.DestinationSetting { return s.ExtAuth.HTTP.Destination.Settings },
			gotAuthority: func(s *ir.SecurityFeatures) string { return s.ExtAuth.HTTP.Authority },
		},
		{
			// An https JWKS whose backend has a BackendTLSPolicy trusts
			// its CA, not the system's.
			name: "jwks", spec: "  jwt:\n    providers:\n    - name: p\n      remoteJWKS:\n        uri: https://grpc-ext-proc.envoygateway/jwks\n" +
				"        backendRefs: [{name: grpc-ext-proc, port: 9002}]\n",
			cluster: "securitypolicy/default/jwks/jwt/0", btls: "svc-btls", sni: "grpc-ext-proc.envoygateway", protocol: "HTTP",
			settings: func(s *ir.SecurityFeatures) []*ir.DestinationSetting {
				return s.JWT.Providers[0].RemoteJWKS.Destination.Settings
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := luaTranslate(t, docs+spYAML(c.name, c.spec), Options{EnableBackend: true})
			if cond := spStatus(t, r, c.name); cond.Status != "True" {
				t.Fatalf("policy: %+v", cond)
			}
			rt := irRoutes(r)[backendRoute]
			if rt.DirectResponse != nil || rt.Security == nil {
				t.Fatalf("route %+v %+v", rt.DirectResponse, rt.Security)
			}
			st := c.settings(rt.Security)
			wantCATLS(t, c.name, st, c.btls, c.sni)
			if st[0].Name != c.cluster+"/backend/0" || st[0].Protocol != c.protocol {
				t.Errorf("setting %s %s, want %s/backend/0 %s", st[0].Name, st[0].Protocol, c.cluster, c.protocol)
			}
			if c.gotAuthority != nil {
				if got := c.gotAuthority(rt.Security); got != c.authority {
					t.Errorf("authority %q, want %q", got, c.authority)
				}
			}
			if got := btlsAncestors(t, r, c.btls); got != "SecurityPolicy/"+c.name {
				t.Errorf("%s ancestors %q, want SecurityPolicy/%s", c.btls, got, c.name)
			}
		})
	}
}

// A BackendTLSPolicy that cannot be honoured on an ext_authz backend fails
// the SecurityPolicy closed (its routes answer 500), unless extAuth has
// failOpen, and leaves the other routes alone.
func TestSecurityPolicyExtServiceInvalidBackendTLS(t *testing.T) {
	bad := "---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {name: bad, namespace: default}\nspec:\n" +
		"  targetRefs: [{group: '', kind: Service, name: grpc-ext-proc}]\n  validation:\n" +
		"    caCertificateRefs: [{name: missing, group: '', kind: ConfigMap}]\n    hostname: x.example\n"
	ref := "  extAuth:\n    grpc:\n      backendRefs: [{name: grpc-ext-proc, port: 9002}]\n"
	for _, failOpen := range []bool{false, true} {
		spec := ref
		if failOpen {
			spec += "    failOpen: true\n"
		}
		r := luaTranslate(t, extProcBase+bad+spYAML("authz", spec), Options{EnableBackend: true})
		cond := spStatus(t, r, "authz")
		if cond.Status != "False" || !strings.HasPrefix(cond.Message, "ExtAuth: BackendTLSPolicy default/bad") {
			t.Fatalf("failOpen %v: policy %+v", failOpen, cond)
		}
		rs := irRoutes(r)
		d := rs[backendRoute].DirectResponse
		if failOpen != (d == nil) || (d != nil && d.StatusCode != 500) {
			t.Errorf("failOpen %v: route %+v", failOpen, d)
		}
		if rs[otherRoute].DirectResponse != nil {
			t.Errorf("failOpen %v: another route failed: %+v", failOpen, rs[otherRoute].DirectResponse)
		}
	}
}

// Envoy Gateway's rules for the references themselves: backendRefs win
// over the deprecated backendRef, and a service needs one of them.
func TestSecurityPolicyExtServiceRefs(t *testing.T) {
	both := "  extAuth:\n    grpc:\n      backendRef: {name: missing, port: 1}\n      backendRefs: [{name: grpc-ext-proc, port: 9002}]\n"
	r := luaTranslate(t, extProcBase+spYAML("both", both), Options{EnableBackend: true})
	if cond := spStatus(t, r, "both"); cond.Status != "True" {
		t.Fatalf("backendRefs must win over backendRef: %+v", cond)
	}
	none := "  extAuth:\n    grpc: {}\n"
	r = luaTranslate(t, extProcBase+spYAML("none", none), Options{EnableBackend: true})
	if cond := spStatus(t, r, "none"); cond.Status != "False" || cond.Message != "ExtAuth: backendRef or backendRefs needs to be set." {
		t.Fatalf("no refs: %+v", cond)
	}
}

// An HTTP service whose port speaks h2c (appProtocol kubernetes.io/h2c)
// keeps HTTP/2, as Envoy Gateway resolves external services; a gRPC
// service is HTTP/2 whatever its port says.
func TestSecurityPolicyExtServiceH2C(t *testing.T) {
	svc := "---\napiVersion: v1\nkind: Service\nmetadata: {name: h2c, namespace: default}\n" +
		"spec: {clusterIP: 127.0.0.1, ports: [{name: http, port: 8080, appProtocol: kubernetes.io/h2c}]}\n"
	r := luaTranslate(t, svc+spYAML("h2c", "  extAuth:\n    http:\n      backendRefs: [{name: h2c, port: 8080}]\n"), Options{})
	st := irRoutes(r)[backendRoute].Security.ExtAuth.HTTP.Destination.Settings
	if st[0].Protocol != "HTTP2" {
		t.Fatalf("protocol %s, want HTTP2", st[0].Protocol)
	}
}
