package translator

import (
	"strings"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// The lua corpus case (Envoy Gateway's xds-ir/lua.yaml and its expected
// xDS) is compared by TestCompatEnvoyGateway; the route configuration has
// one deliberate difference, checked precisely by TestLuaCompatRoute.
func init() {
	compatDifferences["lua"] = map[string]string{
		"route/envoy-gateway/gateway-1/http": "FilterConfig without Envoy Gateway's empty `config: {}` Any (see lua.go); compared by TestLuaCompatRoute",
	}
}

// TestLuaCompatRoute: Envoy Gateway's expected route configuration, with
// the empty config Any of each FilterConfig removed, is proto-equal to ours.
func TestLuaCompatRoute(t *testing.T) { compareRouteWithoutEmptyFilterConfig(t, "lua", 2) }

// Lua instances rank 13+i (after basic_auth at 8); EnvoyProxy filterOrder
// moves all of them together.
func TestLuaFilterOrder(t *testing.T) {
	code := "function envoy_on_request(h) end"
	prefix := "/"
	route := &ir.HTTPRoute{Name: "r", Hostname: "*", PathMatch: &ir.StringMatch{Prefix: &prefix},
		DirectResponse: &ir.DirectResponse{StatusCode: 200},
		Security:       &ir.SecurityFeatures{BasicAuth: &ir.BasicAuth{Name: "securitypolicy/ns/ba", Users: []byte("u:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=")}},
		EnvoyExtensions: &ir.EnvoyExtensionFeatures{Luas: []ir.Lua{
			{Name: "envoyextensionpolicy/ns/p/lua/0", Code: &code},
			{Name: "envoyextensionpolicy/ns/p/lua/1", Code: &code},
		}}}
	mk := func(order []ir.FilterPosition) []string {
		res, err := Translate(&ir.Xds{FilterOrder: order, HTTP: []*ir.HTTPListener{{Name: "ns/gw/http", Address: "0.0.0.0", Port: 10080, Routes: []*ir.HTTPRoute{route}}}})
		if err != nil {
			t.Fatal(err)
		}
		var short []string
		for _, n := range hcmFilterNames(res) {
			short = append(short, strings.TrimPrefix(n, "envoy.filters.http."))
		}
		return short
	}
	check := func(got []string, want string) {
		t.Helper()
		if g := strings.Join(got, " "); g != want {
			t.Errorf("filters %q, want %q", g, want)
		}
	}
	check(mk(nil), "basic_auth/securitypolicy/ns/ba lua/envoyextensionpolicy/ns/p/lua/0 lua/envoyextensionpolicy/ns/p/lua/1 router")
	check(mk([]ir.FilterPosition{{Name: "envoy.filters.http.lua", Before: ptrTo("envoy.filters.http.basic_auth")}}),
		"lua/envoyextensionpolicy/ns/p/lua/0 lua/envoyextensionpolicy/ns/p/lua/1 basic_auth/securitypolicy/ns/ba router")
}

// A script shared by several routes is one HCM entry; a route without
// scripts enables nothing.
func TestLuaSharedScript(t *testing.T) {
	code := "function envoy_on_request(h) end"
	luas := &ir.EnvoyExtensionFeatures{Luas: []ir.Lua{{Name: "envoyextensionpolicy/ns/p/lua/0", Code: &code}}}
	mk := func(name, prefix string, ext *ir.EnvoyExtensionFeatures) *ir.HTTPRoute {
		return &ir.HTTPRoute{Name: name, Hostname: "*", PathMatch: &ir.StringMatch{Prefix: &prefix},
			DirectResponse: &ir.DirectResponse{StatusCode: 200}, EnvoyExtensions: ext}
	}
	x := &ir.Xds{HTTP: []*ir.HTTPListener{{Name: "ns/gw/http", Address: "0.0.0.0", Port: 10080,
		Routes: []*ir.HTTPRoute{mk("a", "/a", luas), mk("b", "/b", luas), mk("c", "/c", nil)}}}}
	res, err := Translate(x)
	if err != nil {
		t.Fatal(err)
	}
	if n := hcmFilterNames(res); len(n) != 2 {
		t.Fatalf("filters %v", n)
	}
	for _, vh := range res.Routes[0].GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			_, on := r.GetTypedPerFilterConfig()["envoy.filters.http.lua/envoyextensionpolicy/ns/p/lua/0"]
			if on != (r.GetName() != "c") {
				t.Errorf("route %s: enabled=%v", r.GetName(), on)
			}
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func hcmFilterNames(res *xdstypes.Resources) []string {
	var out []string
	for _, l := range res.Listeners {
		for _, f := range l.GetDefaultFilterChain().GetFilters() {
			var hcm hcmv3.HttpConnectionManager
			if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
				continue
			}
			for _, hf := range hcm.GetHttpFilters() {
				out = append(out, hf.GetName())
			}
		}
	}
	return out
}
