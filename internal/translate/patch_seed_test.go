package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// The two seed examples of the EnvoyPatchPolicy guide (extensibility task
// 2), run through x translate against the quickstart: the local reply
// 404 -> 406 listener patch and the include_attempt_count_in_response
// jsonPath route patch.

const seedBase = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
%PARAMS%
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, protocol: HTTP, port: 80}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  clusterIP: 7.7.7.7
  ports: [{name: http, port: 3000, targetPort: 3000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: backend, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [www.example.com]
  rules:
  - backendRefs: [{name: backend, port: 3000}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata: {name: custom-response-patch-policy, namespace: default}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: %KIND%, name: eg}
  type: JSONPatch
  jsonPatches:
  - type: "type.googleapis.com/envoy.config.listener.v3.Listener"
    name: default/eg/http
    operation:
      op: add
      path: "/default_filter_chain/filters/0/typed_config/local_reply_config"
      value:
        mappers:
        - filter:
            status_code_filter:
              comparison:
                op: EQ
                value: {default_value: 404, runtime_key: key_b}
          status_code: 406
          body: {inline_string: "could not find what you are looking for"}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata: {name: include-attempts, namespace: default}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: %KIND%, name: eg}
  type: JSONPatch
  jsonPatches:
  - type: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
    name: default/eg/http
    operation:
      op: add
      jsonPath: "..virtual_hosts[?match(@.name, '.*www_example_com')]"
      path: "include_attempt_count_in_response"
      value: true
`

const mergedParams = `  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: merged, namespace: default}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: merged, namespace: default}
spec:
  mergeGateways: true`

func seedFile(t *testing.T, kind string, merged bool) string {
	params := ""
	if merged {
		params = mergedParams
	}
	doc := strings.ReplaceAll(strings.ReplaceAll(seedBase, "%KIND%", kind), "%PARAMS%", params)
	p := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func enabledConfig(on bool) *egv1a1.EnvoyGateway {
	return &egv1a1.EnvoyGateway{EnvoyGatewaySpec: egv1a1.EnvoyGatewaySpec{ExtensionAPIs: &egv1a1.ExtensionAPISettings{EnableEnvoyPatchPolicy: on}}}
}

func TestEnvoyPatchPolicySeedExamples(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		merged     bool
		config     *egv1a1.EnvoyGateway
		// want is, per policy, "<Accepted status>/<reason>" and, when
		// accepted, " <Programmed status>/<reason>".
		want    string
		patched bool
	}{
		{name: "gateway", kind: "Gateway", config: enabledConfig(true), want: "True/Accepted True/Programmed", patched: true},
		{name: "gatewayclass-merged", kind: "GatewayClass", merged: true, config: enabledConfig(true), want: "True/Accepted True/Programmed", patched: true},
		{name: "egctl-default-enables", kind: "Gateway", want: "True/Accepted True/Programmed", patched: true},
		{name: "disabled", kind: "Gateway", config: enabledConfig(false), want: "False/Disabled"},
		{name: "gatewayclass-not-merged", kind: "GatewayClass", config: enabledConfig(true), want: "False/Invalid"},
		{name: "gateway-of-merged-class", kind: "Gateway", merged: true, config: enabledConfig(true), want: "False/Invalid"},
		{name: "wrong-kind", kind: "HTTPRoute", config: enabledConfig(true), want: "False/Invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			report, err := Run(Options{Paths: []string{seedFile(t, tc.kind, tc.merged)}, Config: tc.config,
				To: []string{ToGatewayAPI, ToXDS}, Types: []string{"listener", "route"}, Diff: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(report.Errors) > 0 {
				t.Fatalf("errors: %v", report.Errors)
			}
			policies, _ := report.Output["envoyPatchPolicies"].([]any)
			if len(policies) != 2 {
				t.Fatalf("%d policies in the output", len(policies))
			}
			for _, p := range policies {
				pp := p.(*egv1a1.EnvoyPatchPolicy)
				var got []string
				for _, c := range pp.Status.Ancestors[0].Conditions {
					got = append(got, string(c.Status)+"/"+c.Reason)
				}
				if strings.Join(got, " ") != tc.want {
					t.Errorf("%s: conditions %v, want %s: %+v", pp.Name, got, tc.want, pp.Status.Ancestors[0].Conditions)
				}
				if a := pp.Status.Ancestors[0]; string(*a.AncestorRef.Kind) != tc.kind || a.ControllerName != "gateway.envoyproxy.io/gatewayclass-controller" {
					t.Errorf("%s: ancestor %+v", pp.Name, a)
				}
			}
			data, err := report.Output.Marshal("yaml")
			if err != nil {
				t.Fatal(err)
			}
			out := string(data)
			for _, s := range []string{"statusCode: 406", "includeAttemptCountInResponse: true", "include_attempt_count_in_response: true"} {
				if strings.Contains(out, s) != tc.patched {
					t.Errorf("output contains %q: %v, want %v", s, !tc.patched, tc.patched)
				}
			}
		})
	}
}
