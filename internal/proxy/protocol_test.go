package proxy_test

import (
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// The same life of a config over both ADS protocols: resources added,
// changed and removed (delta sends removals by name), a NACK that keeps
// the previous config serving, and the fix.
func TestConfigLifeOverBothProtocols(t *testing.T) {
	for _, sotw := range []bool{false, true} {
		name := map[bool]string{false: "delta", true: "sotw"}[sotw]
		t.Run(name, func(t *testing.T) {
			h := newHarnessWith(t, sotw)
			port := freePort(t)
			a, a2, b := backend(t, "a"), backend(t, "a2"), backend(t, "b")
			routes := func(prefixes ...string) *routev3.RouteConfiguration {
				vh := &routev3.VirtualHost{Name: "vh", Domains: []string{"*"}}
				for _, p := range prefixes {
					vh.Routes = append(vh.Routes, &routev3.Route{Match: prefix("/" + p), Action: routeTo(p)})
				}
				return &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{vh}}
			}
			expect := func(step, path string, code int, backend string) {
				t.Helper()
				r := get(t, port, "x", path)
				if r.code != code || (backend != "" && r.echo.Backend != backend) {
					t.Fatalf("%s: GET %s = %d from %q, want %d from %q", step, path, r.code, r.echo.Backend, code, backend)
				}
			}
			h.pushAndWait(t, basic(port, routes("a", "b"), map[string][]string{"a": {a}, "b": {b}}))
			expect("v1", "/a", 200, "a")
			expect("v1", "/b", 200, "b")

			// Cluster b goes away while a route still names it (Envoy: 503);
			// a moves to another backend.
			h.pushAndWait(t, basic(port, routes("a", "b"), map[string][]string{"a": {a2}}))
			expect("v2", "/a", 200, "a2")
			expect("v2", "/b", 503, "")
			// Then the route goes too.
			h.pushAndWait(t, basic(port, routes("a"), map[string][]string{"a": {a2}}))
			expect("v3", "/b", 404, "")

			// A listener the proxy cannot honour is refused; v2 serves on.
			bad := basic(port, routes("a"), map[string][]string{"a": {a2}})
			bad[resourcev3.ListenerType][0] = listener("default/eg/http", port, "rc", nil, &hcmv3.HttpFilter{Name: "mystery",
				ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&structpb.Struct{})}})
			h.push(t, bad)
			if msg := waitNACK(t, h, `http filter "mystery": unknown filter type`); !strings.HasPrefix(msg, "LDS version") {
				t.Fatalf("error_detail = %q", msg)
			}
			expect("after the NACK", "/a", 200, "a2")

			// The fix brings b back.
			h.pushAndWait(t, basic(port, routes("a", "b"), map[string][]string{"a": {a}, "b": {b}}))
			expect("v5", "/a", 200, "a")
			expect("v5", "/b", 200, "b")
		})
	}
}
