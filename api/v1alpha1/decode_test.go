package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// newObject returns an empty typed object for one of this package's kinds.
func newObject(kind string) (runtime.Object, bool) {
	switch kind {
	case KindEnvoyGateway:
		return &EnvoyGateway{}, true
	case KindEnvoyProxy:
		return &EnvoyProxy{}, true
	case KindEnvoyPatchPolicy:
		return &EnvoyPatchPolicy{}, true
	case KindEnvoyExtensionPolicy:
		return &EnvoyExtensionPolicy{}, true
	case KindSecurityPolicy:
		return &SecurityPolicy{}, true
	case KindBackend:
		return &Backend{}, true
	}
	return nil, false
}

// decodeStrict decodes one JSON document the way Portico's loaders must:
// case-sensitive field names, unknown and duplicate fields rejected.
func decodeStrict(data []byte, into any) error {
	strict, err := sigsjson.UnmarshalStrict(data, into)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, 0, len(strict))
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		return fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// splitYAML splits a multi-document stream on "---" lines and converts each
// non-empty document to JSON.
func splitYAML(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var docs [][]byte
	for _, part := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		// Drop the remainder of a "---" separator line.
		if i := bytes.IndexByte(part, '\n'); i >= 0 {
			part = part[i+1:]
		} else {
			continue
		}
		js, err := yaml.YAMLToJSON(part)
		if err != nil {
			t.Fatalf("yaml: %v", err)
		}
		if len(js) == 0 || string(js) == "null" {
			continue
		}
		docs = append(docs, js)
	}
	return docs
}

// prune removes what omitempty legitimately drops or adds (null, false, 0,
// "", empty objects and lists), so that the original document and its typed
// round-trip can be compared for lost or invented content.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if p := prune(e); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			p := prune(e)
			if p == nil {
				// Keep positions: a null inside a list is data (e.g. Wasm config).
				p = "<empty>"
			}
			out = append(out, p)
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case bool:
		if !x {
			return nil
		}
	case float64:
		if x == 0 {
			return nil
		}
	case string:
		if x == "" {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

func roundTrip(t *testing.T, name string, original []byte, obj any) {
	t.Helper()
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("%s: marshal: %v", name, err)
	}
	var a, b any
	if err := json.Unmarshal(original, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if pa, pb := prune(a), prune(b); !reflect.DeepEqual(pa, pb) {
		ja, _ := json.MarshalIndent(pa, "", " ")
		jb, _ := json.MarshalIndent(pb, "", " ")
		t.Errorf("%s: round trip changed the document\n--- original\n%s\n--- round trip\n%s", name, ja, jb)
	}
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// TestDecodeTestdataStrict decodes every gateway.envoyproxy.io document in
// testdata (Envoy Gateway's corpus, the guides, Portico's examples) strictly
// and checks that re-encoding loses and invents nothing.
func TestDecodeTestdataStrict(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	sort.Strings(files)
	seen := map[string]int{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitYAML(t, data) {
			var tm typeMeta
			if err := json.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s[%d]: %v", file, i, err)
			}
			if tm.APIVersion != GroupVersion.String() {
				continue // Gateway API and core kinds belong to other packages.
			}
			name := fmt.Sprintf("%s[%d] %s", file, i, tm.Kind)
			obj, ok := newObject(tm.Kind)
			if !ok {
				t.Errorf("%s: kind not modelled", name)
				continue
			}
			if err := decodeStrict(doc, obj); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			roundTrip(t, name, doc, obj)
			seen[tm.Kind]++
		}
	}
	for _, kind := range []string{KindEnvoyGateway, KindEnvoyProxy, KindEnvoyPatchPolicy, KindEnvoyExtensionPolicy, KindSecurityPolicy, KindBackend} {
		if seen[kind] == 0 {
			t.Errorf("no testdata document of kind %s", kind)
		}
	}
	t.Logf("decoded strictly: %v", seen)
}

// TestDecodeRejectsUnknownFields makes sure strict decoding is real: a
// misspelt or wrongly cased field anywhere in the tree is an error.
func TestDecodeRejectsUnknownFields(t *testing.T) {
	cases := map[string]struct {
		obj  any
		yaml string
	}{
		"top-level spec field": {&EnvoyPatchPolicy{}, `
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata: {name: p}
spec:
  type: JSONPatch
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: eg}
  jsonPatchs: []
`},
		"nested operation field": {&EnvoyPatchPolicy{}, `
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata: {name: p}
spec:
  type: JSONPatch
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: eg}
  jsonPatches:
  - type: type.googleapis.com/envoy.config.listener.v3.Listener
    name: default/eg/http
    operation: {op: add, path: /x, value: 1, jsonpath: "$..x"}
`},
		"wrong case": {&EnvoyExtensionPolicy{}, `
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata: {name: p}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  wasm: [{rootId: x, code: {type: HTTP, http: {url: "http://x"}}}]
`},
		"config file": {&EnvoyGateway{}, `
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyGateway
extensionManager:
  hooks: {xdsTranslator: {post: [Route]}}
  service: {fqdn: {hostname: x, port: 1}}
  failopen: true
`},
		"deployment": {&EnvoyProxy{}, `
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: p}
spec:
  provider: {type: Kubernetes, kubernetes: {envoyDeployment: {replica: 2}}}
`},
		"backend endpoint": {&Backend{}, `
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b}
spec:
  endpoints: [{unix: {path: /s, mode: 0600}}]
`},
		"jwt provider": {&SecurityPolicy{}, `
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: s}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  jwt: {providers: [{name: p, remoteJwks: {uri: "https://x"}}]}
`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			js, err := yaml.YAMLToJSON([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = decodeStrict(js, tc.obj)
			if err == nil {
				t.Fatalf("unknown field was accepted")
			}
			if !strings.Contains(err.Error(), "unknown field") {
				t.Fatalf("unexpected error: %v", err)
			}
			// The same document minus strictness decodes: the failure above is
			// only about the unknown field.
			if err := json.Unmarshal(js, tc.obj); err != nil {
				t.Fatalf("lenient decoding failed too: %v", err)
			}
		})
	}
}
