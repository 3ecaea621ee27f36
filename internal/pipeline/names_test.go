package pipeline

import (
	"os"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/resource"
)

// Several HTTPS listeners on one port are one Envoy listener named after
// the first one declared, as Envoy Gateway names it (patches are written
// against that name), not the alphabetically first.
func TestMergedHTTPSListenerTakesTheFirstDeclaredName(t *testing.T) {
	base, err := os.ReadFile("../translate/testdata/golden/https.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: two
  namespace: default
spec:
  gatewayClassName: eg
  listeners:
    - name: zeta
      protocol: HTTPS
      port: 8443
      hostname: a.example.com
      tls: {certificateRefs: [{kind: Secret, name: example-cert, namespace: certs}]}
    - name: alpha
      protocol: HTTPS
      port: 8443
      hostname: b.example.com
      tls: {certificateRefs: [{kind: Secret, name: example-cert, namespace: certs}]}
`
	set, probs := resource.LoadBytes("in.yaml", append(append(base, "\n---\n"...), gw...))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	f := Run(set, config(false), Options{}).Fleet("default/two")
	if f == nil || f.Resources == nil || len(f.Resources.Listeners) == 0 {
		t.Fatal("no listener for Gateway default/two")
	}
	var names []string
	for _, l := range f.Resources.Listeners {
		names = append(names, l.Name)
	}
	if !slices.Contains(names, "default/two/zeta") || slices.Contains(names, "default/two/alpha") {
		t.Fatalf("listeners %v, want default/two/zeta (the first declared)", names)
	}
}

const servicesAndBackend = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: unaddressed, namespace: default}
spec:
  ports: [{name: http, port: 3000}]
---
apiVersion: v1
kind: Service
metadata: {name: addressed, namespace: default}
spec:
  clusterIP: 10.0.0.1
  ports: [{name: http, port: 3000}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ip, namespace: default}
spec:
  endpoints: [{ip: {address: 10.0.0.2, port: 3001}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mixed, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [mixed.example.com]
  rules:
    - backendRefs:
        - {name: unaddressed, port: 3000}
        - {group: gateway.envoyproxy.io, kind: Backend, name: ip}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: only-unaddressed, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [unaddressed.example.com]
  rules:
    - backendRefs: [{name: unaddressed, port: 3000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: addressed, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [addressed.example.com]
  rules:
    - backendRefs: [{name: addressed, port: 3000}]
`

func loadServices(t *testing.T) *resource.Set {
	t.Helper()
	set, probs := resource.LoadBytes("in.yaml", []byte(servicesAndBackend))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	return set
}

// Offline, a rule mixing a Service and an IP Backend is one cluster
// .../rule/N, as Envoy Gateway makes it: a Service is an IP destination
// even before anything lists its endpoints.
func TestRuleMixingServiceAndBackendIsOneCluster(t *testing.T) {
	cfg := config(false)
	cfg.ExtensionAPIs.EnableBackend = true
	f := Run(loadServices(t), cfg, Options{}).Fleet("default/eg")
	if f == nil || f.Resources == nil {
		t.Fatal("no fleet")
	}
	var names []string
	for _, c := range f.Resources.Clusters {
		if strings.HasPrefix(c.Name, "httproute/default/mixed/") {
			names = append(names, c.Name)
			if c.GetType() != clusterv3.Cluster_EDS {
				t.Errorf("cluster %s is %v, want EDS", c.Name, c.GetClusterDiscoveryType())
			}
		}
	}
	if len(names) != 1 || names[0] != "httproute/default/mixed/rule/0" {
		t.Fatalf("clusters of the mixed rule: %v, want [httproute/default/mixed/rule/0]", names)
	}
}

// Standalone, a Service whose endpoints cannot be known is reported on the
// routes that use it, and only those fail; a stand-in serves it instead.
func TestStandaloneServices(t *testing.T) {
	cfg := config(false)
	cfg.ExtensionAPIs.EnableBackend = true
	r := Run(loadServices(t), cfg, Options{Standalone: true})
	resolved := map[string]string{}
	for _, rt := range r.Gateway.HTTPRoutes {
		for _, c := range rt.Status.Parents[0].Conditions {
			if c.Type == string(gwapiv1.RouteConditionResolvedRefs) {
				resolved[rt.Name] = string(c.Status) + " " + c.Reason + " " + c.Message
			}
		}
	}
	for _, name := range []string{"mixed", "only-unaddressed"} {
		if !strings.HasPrefix(resolved[name], "False BackendNotFound Service default/unaddressed has no endpoints") ||
			!strings.Contains(resolved[name], "--demo-backend") {
			t.Errorf("route %s: ResolvedRefs = %q", name, resolved[name])
		}
	}
	if !strings.HasPrefix(resolved["addressed"], "True") {
		t.Errorf("route addressed: ResolvedRefs = %q", resolved["addressed"])
	}
	routes := routesByName(r)
	if d := routes["httproute/default/only-unaddressed/rule/0/match/0/unaddressed_example_com"]; d == nil || d.GetDirectResponse().GetStatus() != 500 {
		t.Errorf("the route with no usable backend must answer 500: %v", d)
	}
	if d := routes["httproute/default/addressed/rule/0/match/0/addressed_example_com"]; d == nil || d.GetRoute().GetCluster() == "" {
		t.Errorf("the route to an addressed Service must be unaffected: %v", d)
	}

	r = Run(loadServices(t), cfg, Options{Standalone: true, ServiceStandIn: "127.0.0.1:3999"})
	f := r.Fleet("default/eg")
	found := false
	for _, cla := range f.Resources.Endpoints {
		if cla.ClusterName != "httproute/default/only-unaddressed/rule/0" {
			continue
		}
		for _, le := range cla.Endpoints {
			for _, e := range le.LbEndpoints {
				sa := e.GetEndpoint().GetAddress().GetSocketAddress()
				found = found || (sa.GetAddress() == "127.0.0.1" && sa.GetPortValue() == 3999)
			}
		}
	}
	if !found {
		t.Fatal("the stand-in does not serve the unaddressed Service")
	}
}

func routesByName(r *Result) map[string]*routev3.Route {
	out := map[string]*routev3.Route{}
	for _, f := range r.Fleets {
		for _, rc := range f.Resources.Routes {
			for _, vh := range rc.VirtualHosts {
				for _, rt := range vh.Routes {
					out[rt.Name] = rt
				}
			}
		}
	}
	return out
}
