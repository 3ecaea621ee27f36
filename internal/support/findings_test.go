package support

import (
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

func TestFindings(t *testing.T) {
	dyn := egv1a1.BackendTypeDynamicResolver
	endpoints := egv1a1.BackendTypeEndpoints
	none := gwapiv1.GatewayDefaultScope("None")
	cases := []struct {
		name string
		kind string
		obj  any
		want string
	}{
		{"rule index in the path", "HTTPRoute", &gwapiv1.HTTPRoute{Spec: gwapiv1.HTTPRouteSpec{Rules: []gwapiv1.HTTPRouteRule{
			{}, {BackendRefs: []gwapiv1.HTTPBackendRef{{}, {Filters: []gwapiv1.HTTPRouteFilter{{}}}}}}}}, "spec.rules[1].backendRefs[1].filters"},
		{"nothing set", "HTTPRoute", &gwapiv1.HTTPRoute{}, ""},
		{"a value-narrowed row", "Backend", &egv1a1.Backend{Spec: egv1a1.BackendSpec{Type: &dyn}}, "spec.type"},
		{"another value", "Backend", &egv1a1.Backend{Spec: egv1a1.BackendSpec{Type: &endpoints}}, ""},
		{"the schema default is not a finding", "EnvoyProxy", &egv1a1.EnvoyProxy{Spec: egv1a1.EnvoyProxySpec{
			Logging: egv1a1.ProxyLogging{Level: map[string]egv1a1.LogLevel{"default": "warn"}}}}, ""},
		{"a changed default is", "EnvoyProxy", &egv1a1.EnvoyProxy{Spec: egv1a1.EnvoyProxySpec{
			Logging: egv1a1.ProxyLogging{Level: map[string]egv1a1.LogLevel{"default": "debug"}}}}, "spec.logging"},
		{"None means unset", "Gateway", &gwapiv1.Gateway{Spec: gwapiv1.GatewaySpec{DefaultScope: none}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Paths(Findings(c.kind, c.obj)); got != c.want {
				t.Fatalf("findings %q, want %q", got, c.want)
			}
		})
	}
}
