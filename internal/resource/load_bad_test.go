package resource

import (
	"strings"
	"testing"
)

// goodBefore and goodAfter surround every bad document: whatever is wrong in the middle,
// both must still load (an invalid object is dropped, never the file).
const goodBefore = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
---
`

const goodAfter = `
---
apiVersion: v1
kind: Service
metadata:
  name: backend
  namespace: default
spec:
  ports:
  - port: 3000
`

func TestBadInputs(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "unparseable YAML",
			doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   namespace: y\n",
			want: []string{`bad.yaml#2: invalid YAML: mapping values are not allowed in this context (line 12)`},
		},
		{
			name: "missing apiVersion",
			doc:  "kind: ConfigMap\nmetadata:\n  name: x\n",
			want: []string{`bad.yaml#2 ConfigMap x: apiVersion: Required value (line 8)`},
		},
		{
			name: "missing kind",
			doc:  "apiVersion: v1\nmetadata:\n  name: x\n",
			want: []string{`bad.yaml#2 x: kind: Required value (line 8)`},
		},
		{
			name: "not an object",
			doc:  "- a\n- b\n",
			want: []string{`bad.yaml#2: expected an object with apiVersion and kind, got a list (line 8)`},
		},
		{
			name: "unknown kind",
			doc:  "apiVersion: example.com/v1\nkind: Frobnicator\nmetadata:\n  name: x\n",
			want: []string{`bad.yaml#2 Frobnicator x: kind: no matches for kind "Frobnicator" in version "example.com/v1" (line 9)`},
		},
		{
			name: "Envoy Gateway kind Portico does not serve",
			doc:  "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\nmetadata:\n  name: x\n",
			want: []string{`bad.yaml#2 ClientTrafficPolicy x: kind: no matches for kind "ClientTrafficPolicy" in version "gateway.envoyproxy.io/v1alpha1"; kinds served in gateway.envoyproxy.io: Backend, EnvoyExtensionPolicy, EnvoyPatchPolicy, EnvoyProxy, SecurityPolicy (line 9)`},
		},
		{
			name: "unserved version",
			doc:  "apiVersion: gateway.networking.k8s.io/v1beta2\nkind: HTTPRoute\nmetadata:\n  name: x\n",
			want: []string{`bad.yaml#2 HTTPRoute x: apiVersion: no matches for kind "HTTPRoute" in version "gateway.networking.k8s.io/v1beta2"; served versions: gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1 (line 8)`},
		},
		{
			name: "unknown field with suggestion",
			doc: route(`  rules:
  - matchs:
    - path: {type: PathPrefix, value: /}`),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].matchs: unknown field "matchs", did you mean "matches"? (line 15)`},
		},
		{
			// Two edits of a four-letter name is another word, not a typo:
			// Envoy Gateway's SecurityPolicy has no csrf, and cors is not it.
			name: "unknown field without a far-fetched suggestion",
			doc: `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: backend}]
  csrf: {}`,
			want: []string{`bad.yaml#2 SecurityPolicy default/p: spec.csrf: unknown field "csrf" (line 13)`},
		},
		{
			name: "wrong type",
			doc: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: eg
  listeners:
  - name: http
    protocol: HTTP
    port: "eighty"`,
			want: []string{`bad.yaml#2 Gateway default/gw: spec.listeners[0].port: Invalid value: "eighty": must be of type integer (line 16)`},
		},
		{
			name: "enum violation",
			doc: route(`  rules:
  - matches:
    - path:
        type: Prefixx
        value: /`),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].matches[0].path.type: Unsupported value: "Prefixx": supported values: "Exact", "PathPrefix", "RegularExpression" (line 17)`},
		},
		{
			name: "missing required",
			doc: route(`  rules:
  - backendRefs:
    - port: 80`),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].backendRefs[0].name: Required value (line 16)`},
		},
		{
			name: "maximum",
			doc: route(`  rules:
  - backendRefs:
    - name: b
      port: 70000`),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].backendRefs[0].port: Invalid value: 70000: must be less than or equal to 65535 (line 17)`},
		},
		{
			name: "minimum",
			doc: route(`  rules:
  - backendRefs:
    - name: b
      port: 0`),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].backendRefs[0].port: Invalid value: 0: must be greater than or equal to 1 (line 17)`},
		},
		{
			name: "maxLength",
			doc: route(`  hostnames:
  - ` + strings.Repeat("a", 254)),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.hostnames[0]: Too long: may not be more than 253 characters (line 15)`},
		},
		{
			name: "minLength",
			doc: route(`  rules:
  - backendRefs:
    - name: ""
      port: 80`),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].backendRefs[0].name: Invalid value: "": must be at least 1 characters long (line 16)`},
		},
		{
			name: "minItems",
			doc:  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: default}\nspec:\n  gatewayClassName: eg\n  listeners: []\n",
			want: []string{`bad.yaml#2 Gateway default/gw: spec.listeners: Invalid value: 0: must have at least 1 items (line 13)`},
		},
		{
			name: "maxItems",
			doc:  route("  hostnames: [" + strings.TrimSuffix(strings.Repeat("a.com,", 17), ",") + "]"),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.hostnames: Too many: 17: must have at most 16 items (line 14)`},
		},
		{
			name: "pattern",
			doc:  route("  hostnames: [\"Bad_Host\"]"),
			want: []string{`bad.yaml#2 HTTPRoute default/backend: spec.hostnames[0]: Invalid value: "Bad_Host": should match '^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' (line 14)`},
		},
		{
			name: "duplicate list-map key",
			doc: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, protocol: HTTP, port: 80}
  - {name: http, protocol: HTTP, port: 81}`,
			want: []string{`bad.yaml#2 Gateway default/gw: spec.listeners[1]: Duplicate value: {"name":"http"} (line 15)`},
		},
		{
			name: "duplicate YAML key",
			doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n",
			want: []string{`bad.yaml#2 ConfigMap envoy-gateway-system/y: metadata.name: duplicate field "name" (line 12)`},
		},
		{
			name: "invalid metadata name",
			doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n",
			want: []string{`bad.yaml#2 ConfigMap envoy-gateway-system/Not_Valid: metadata.name: Invalid value: "Not_Valid": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*') (line 11)`},
		},
		{
			name: "core kind unknown fields, all reported",
			doc:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  lables: {a: b}\ndata: {k: v}\nbinaryDta: {}\n",
			want: []string{
				`bad.yaml#2 ConfigMap envoy-gateway-system/x: metadata.lables: unknown field "lables" (line 12)`,
				`bad.yaml#2 ConfigMap envoy-gateway-system/x: binaryDta: unknown field "binaryDta" (line 14)`,
			},
		},
		{
			name: "core kind wrong type",
			doc:  "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\nspec:\n  ports:\n  - port: http\n",
			want: []string{`bad.yaml#2 Service default/s: spec.ports.port: Invalid value: string: must be of type int32 (line 12)`},
		},
		{
			name: "Envoy Gateway kind, schema from config/crd/portico",
			doc: `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata: {name: p, namespace: default}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: eg}
  type: JSONPatch
  jsonPatches:
  - type: type.googleapis.com/envoy.config.listener.v3.Listener
    name: default/eg/http
    operation: {op: upsert, path: /a, value: {any: [thing]}}`,
			want: []string{`bad.yaml#2 EnvoyPatchPolicy default/p: spec.jsonPatches[0].operation.op: Unsupported value: "upsert": supported values: "add", "remove", "replace", "move", "copy", "test" (line 17)`},
		},
		{
			name: "many problems in one object, one pass",
			doc: route(`  hostnames: ["Bad_Host"]
  rules:
  - matches:
    - path: {type: Prefixx}
    backendRefs:
    - port: 80
    timeouts: {request: 5 s}
    colour: red`),
			want: []string{
				`bad.yaml#2 HTTPRoute default/backend: spec.hostnames[0]: Invalid value: "Bad_Host": should match '^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' (line 14)`,
				`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].matches[0].path.type: Unsupported value: "Prefixx": supported values: "Exact", "PathPrefix", "RegularExpression" (line 17)`,
				`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].backendRefs[0].name: Required value (line 19)`,
				`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].timeouts.request: Invalid value: "5 s": should match '^([0-9]{1,5}(h|m|s|ms)){1,4}$' (line 20)`,
				`bad.yaml#2 HTTPRoute default/backend: spec.rules[0].colour: unknown field "colour" (line 21)`,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, probs := LoadBytes("bad.yaml", []byte(goodBefore+tc.doc+goodAfter))
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
			}
			if len(set.GatewayClasses) != 1 || len(set.Services) != 1 {
				t.Errorf("valid neighbours not loaded: %d GatewayClasses, %d Services", len(set.GatewayClasses), len(set.Services))
			}
			if n := set.Len(); n != 2 {
				t.Errorf("set has %d objects, want only the 2 valid ones", n)
			}
		})
	}
}

// route wraps spec lines (after parentRefs) into an HTTPRoute document starting at line 8.
func route(spec string) string {
	return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend
  namespace: default
spec:
` + spec
}
