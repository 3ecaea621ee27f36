package translate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/resource"
)

const missingInput = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: v1
kind: Service
metadata: {name: partial, namespace: default}
spec:
  clusterIP: 10.0.0.1
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: noip, namespace: default}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - backendRefs:
        - {name: missing, port: 8080}
        - {name: partial, port: 9090}
        - {name: noip, port: 80}
        - {name: missing, namespace: other, port: 8080}
`

// --add-missing-resources adds what egctl adds, on copies.
func TestAddMissingResources(t *testing.T) {
	set, probs := resource.LoadBytes("in.yaml", []byte(missingInput), resource.WithDefaultNamespace("default"))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	before, _ := resource.LoadBytes("in.yaml", []byte(missingInput), resource.WithDefaultNamespace("default"))
	out, err := addMissingResources(set)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set, before) {
		t.Fatal("the loaded set was modified")
	}
	got := map[string]string{}
	for _, s := range out.Services {
		var ports []string
		for _, p := range s.Spec.Ports {
			ports = append(ports, p.Name)
		}
		got[s.Namespace+"/"+s.Name] = s.Spec.ClusterIP + " " + strings.Join(ports, ",")
	}
	want := map[string]string{
		"default/partial": "10.0.0.1 http,TCP-9090",
		"default/noip":    "1.2.3.4 http",
		"default/missing": "1.2.3.4 TCP-8080",
		"other/missing":   "1.2.3.4 TCP-8080",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	if len(out.EnvoyProxies) != 1 || out.EnvoyProxies[0].Name != "default-envoy-proxy" ||
		out.EnvoyProxies[0].Namespace != "envoy-gateway-system" || !strings.Contains(*out.EnvoyProxies[0].Spec.Bootstrap.Value, "dynamic_resources:") {
		t.Fatalf("default EnvoyProxy: %+v", out.EnvoyProxies)
	}
	if ref := out.GatewayClasses[0].Spec.ParametersRef; ref == nil || ref.Name != "default-envoy-proxy" || string(*ref.Namespace) != "envoy-gateway-system" {
		t.Fatalf("parametersRef %+v", ref)
	}
	// An EnvoyProxy in the input is kept; without a GatewayClass egctl's error.
	if _, err := addMissingResources(&resource.Set{}); err != errNoGatewayClass {
		t.Fatalf("no class: %v", err)
	}
}
