package translator

import (
	"slices"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/ir"
)

func names(fs []*hcmv3.HttpFilter) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.GetName())
	}
	return out
}

func TestApplyFilterOrder(t *testing.T) {
	mk := func(ns ...string) []*hcmv3.HttpFilter {
		var fs []*hcmv3.HttpFilter
		for _, n := range ns {
			fs = append(fs, &hcmv3.HttpFilter{Name: n})
		}
		return fs
	}
	s := func(v string) *string { return &v }
	in := mk("envoy.filters.http.basic_auth/p", "envoy.filters.http.cors", "envoy.filters.http.jwt_authn",
		"envoy.filters.http.wasm/p/0", "envoy.filters.http.wasm/p/1", routerFilterName)
	// The corpus custom-filter-order case: wasm before jwt_authn, cors after basic_auth.
	got := names(applyFilterOrder(in, []ir.FilterPosition{
		{Name: "envoy.filters.http.wasm", Before: s("envoy.filters.http.jwt_authn")},
		{Name: "envoy.filters.http.cors", After: s("envoy.filters.http.basic_auth")},
	}))
	want := []string{"envoy.filters.http.basic_auth/p", "envoy.filters.http.cors", "envoy.filters.http.wasm/p/0",
		"envoy.filters.http.wasm/p/1", "envoy.filters.http.jwt_authn", routerFilterName}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Moving after the last filter keeps the router last; unknown targets change nothing.
	got = names(applyFilterOrder(mk("envoy.filters.http.cors", "envoy.filters.http.jwt_authn", routerFilterName), []ir.FilterPosition{
		{Name: "envoy.filters.http.cors", After: s("envoy.filters.http.jwt_authn")},
		{Name: "envoy.filters.http.jwt_authn", Before: s("envoy.filters.http.missing")},
	}))
	if want := []string{"envoy.filters.http.jwt_authn", "envoy.filters.http.cors", routerFilterName}; !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestRegistryOrdersByRank(t *testing.T) {
	fs := buildHTTPFilters(&ListenerContext{Xds: &ir.Xds{}, Listeners: []*ir.HTTPListener{{IsHTTP2: true}}, Sink: newSink()}, &errs{})
	want := []string{"envoy.filters.http.grpc_web", "envoy.filters.http.grpc_stats", routerFilterName}
	if got := names(fs); !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

// TestSecurityFiltersOrder builds the HCM of a route with every security
// filter: Envoy Gateway's default order, then filterOrder moving each
// type Portico emits (the guide's ext_authz after jwt_authn among them).
func TestSecurityFiltersOrder(t *testing.T) {
	s := func(v string) *string { return &v }
	dest := ir.RouteDestination{Name: "authz", Settings: []*ir.DestinationSetting{{Name: "authz/backend/0",
		Protocol: "GRPC", Endpoints: []*ir.DestinationEndpoint{{Path: s("/tmp/opa.sock")}}}}}
	route := &ir.HTTPRoute{Name: "r", Hostname: "*", Security: &ir.SecurityFeatures{
		CORS:          &ir.CORS{AllowOrigins: []*ir.StringMatch{{Exact: s("https://a.example")}}},
		JWT:           &ir.JWT{Providers: []ir.JWTProvider{{Name: "p", LocalJWKS: s(`{"keys":[]}`)}}},
		BasicAuth:     &ir.BasicAuth{Name: "securitypolicy/default/p", Users: []byte("u:{SHA}x")},
		APIKeyAuth:    &ir.APIKeyAuth{Name: "securitypolicy/default/p", Credentials: map[string][]byte{"c": []byte("k")}, ExtractFrom: []*ir.ExtractFrom{{Headers: []string{"x-key"}}}},
		ExtAuth:       &ir.ExtAuth{Name: "securitypolicy/default/p", GRPC: &ir.GRPCExtAuthService{Destination: dest, Authority: "opa.default"}},
		Authorization: &ir.Authorization{DefaultAction: "Deny"},
	}}
	ctx := func(order []ir.FilterPosition) []string {
		x := &ir.Xds{FilterOrder: order}
		fs := buildHTTPFilters(&ListenerContext{Xds: x, Listeners: []*ir.HTTPListener{{Routes: []*ir.HTTPRoute{route}}}, Sink: newSink()}, &errs{})
		return names(fs)
	}
	const (
		cors  = "envoy.filters.http.cors"
		authz = "envoy.filters.http.ext_authz/securitypolicy/default/p"
		key   = "envoy.filters.http.api_key_auth"
		basic = "envoy.filters.http.basic_auth/securitypolicy/default/p"
		jwt   = "envoy.filters.http.jwt_authn"
		rbac  = "envoy.filters.http.rbac"
	)
	if got, want := ctx(nil), []string{cors, authz, key, basic, jwt, rbac, routerFilterName}; !slices.Equal(got, want) {
		t.Fatalf("default order %v\nwant %v", got, want)
	}
	got := ctx([]ir.FilterPosition{
		{Name: "envoy.filters.http.ext_authz", After: s(jwt)},
		{Name: rbac, Before: s(cors)},
		{Name: "envoy.filters.http.basic_auth", After: s("envoy.filters.http.ext_authz")},
		{Name: key, Before: s(rbac)},
	})
	if want := []string{key, rbac, cors, jwt, authz, basic, routerFilterName}; !slices.Equal(got, want) {
		t.Fatalf("filterOrder %v\nwant %v", got, want)
	}
}
