package proxy_test

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
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

// A resource's warning lasts as long as the resource, whichever protocol:
// a delta push of another cluster must not drop it, removing the cluster
// must.
func TestWarningsFollowTheirResources(t *testing.T) {
	for _, sotw := range []bool{false, true} {
		t.Run(map[bool]string{false: "delta", true: "sotw"}[sotw], func(t *testing.T) {
			h := newHarnessWith(t, sotw)
			port := freePort(t)
			be := backend(t, "a")
			warned := func(c *clusterv3.Cluster) { c.OutlierDetection = &clusterv3.OutlierDetection{} }
			push := func(clusters ...*clusterv3.Cluster) {
				res := basic(port, simpleRoutes("a"), nil)
				res[resourcev3.ClusterType], res[resourcev3.EndpointType] = nil, nil
				for _, c := range clusters {
					res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType], c)
					res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType], cla(c.GetName(), be))
				}
				h.pushAndWait(t, res)
			}
			has := func() bool {
				return strings.Contains(strings.Join(h.p.Status().Warnings, ";"), "cluster w: outlier_detection")
			}
			push(edsCluster("a", nil), edsCluster("w", warned))
			if !has() {
				t.Fatalf("no warning for cluster w: %v", h.p.Status().Warnings)
			}
			push(edsCluster("a", nil), edsCluster("w", warned), edsCluster("b", nil))
			if !has() {
				t.Fatalf("adding cluster b dropped cluster w's warning: %v", h.p.Status().Warnings)
			}
			push(edsCluster("a", nil), edsCluster("b", nil))
			if has() {
				t.Fatalf("cluster w is gone, its warning stayed: %v", h.p.Status().Warnings)
			}
		})
	}
}
