package resource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestDefaultsNamespacesAndVersions(t *testing.T) {
	in := `# leading comment only: not a document
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
  namespace: ignored-for-cluster-scoped
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
---
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend
spec:
  parentRefs:
  - name: eg
  rules:
  - backendRefs:
    - name: backend
      port: 3000
---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: TLSRoute
metadata: {name: tls, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [foo.com]
  rules:
  - backendRefs: [{name: backend, port: 3000}]
...
`
	set, probs := LoadBytes("in.yaml", []byte(in), WithDefaultNamespace("team-a"))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if gc := set.GatewayClasses[0]; gc.Namespace != "" {
		t.Errorf("cluster-scoped GatewayClass kept namespace %q", gc.Namespace)
	}
	r := set.HTTPRoutes[0]
	if r.Namespace != "team-a" {
		t.Errorf("namespace = %q, want the default team-a", r.Namespace)
	}
	// Schema defaults, as the API server applies them.
	pr := r.Spec.ParentRefs[0]
	if pr.Group == nil || *pr.Group != gwapiv1.GroupName || pr.Kind == nil || *pr.Kind != "Gateway" {
		t.Errorf("parentRef group/kind not defaulted: %+v", pr)
	}
	rule := r.Spec.Rules[0]
	if len(rule.Matches) != 1 || *rule.Matches[0].Path.Type != gwapiv1.PathMatchPathPrefix || *rule.Matches[0].Path.Value != "/" {
		t.Errorf("rule matches not defaulted: %+v", rule.Matches)
	}
	if w := rule.BackendRefs[0].Weight; w == nil || *w != 1 {
		t.Errorf("backendRef weight not defaulted")
	}
	if len(set.TLSRoutes) != 1 || set.TLSRoutes[0].APIVersion != "gateway.networking.k8s.io/v1alpha3" {
		t.Errorf("v1alpha3 TLSRoute not decoded into v1 type with its apiVersion kept")
	}
}

// Envoy Gateway's CRD defaults an EnvoyProxy's envoyService type and
// externalTrafficPolicy; egctl prints them (its valid-envoyproxy case).
func TestEnvoyServiceDefaults(t *testing.T) {
	set, probs := LoadBytes("ep.yaml", []byte(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: ep, namespace: default}
spec:
  provider:
    type: Kubernetes
    kubernetes:
      envoyService: {annotations: {a: b}}
`))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	svc := set.EnvoyProxies[0].Spec.Provider.Kubernetes.EnvoyService
	if svc.Type == nil || *svc.Type != "LoadBalancer" || svc.ExternalTrafficPolicy == nil || *svc.ExternalTrafficPolicy != "Local" {
		t.Fatalf("envoyService not defaulted: type %v, externalTrafficPolicy %v", svc.Type, svc.ExternalTrafficPolicy)
	}
}

func TestListsExpanded(t *testing.T) {
	in := `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: B}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
`
	set, probs := LoadBytes("list.yaml", []byte(in))
	if len(set.ConfigMaps) != 2 {
		t.Errorf("loaded %d ConfigMaps, want 2", len(set.ConfigMaps))
	}
	if len(probs) != 1 || probs[0].Path != "items[1].metadata.name" || probs[0].Line != 9 || probs[0].Doc != 1 {
		t.Errorf("problems = %v", probs)
	}
}

func TestDuplicatesFirstWins(t *testing.T) {
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata: {v: \"%s\"}\n"
	in := strings.Replace(doc, "%s", "first", 1) + "---\n" + strings.Replace(doc, "%s", "second", 1)
	set, probs := LoadBytes("dup.yaml", []byte(in))
	if len(set.ConfigMaps) != 1 || set.ConfigMaps[0].Data["v"] != "first" {
		t.Errorf("want the first definition kept, got %+v", set.ConfigMaps)
	}
	want := `dup.yaml#2 ConfigMap default/cm: metadata.name: Duplicate value: ConfigMap default/cm is already defined at dup.yaml#1; the first definition is kept (line 8)`
	if len(probs) != 1 || probs[0].String() != want {
		t.Errorf("problems = %v\nwant %s", probs, want)
	}
}

func TestSecretDataNeverInMessages(t *testing.T) {
	in := `apiVersion: v1
kind: Secret
metadata: {name: s, namespace: default}
data:
  password: 123456789
stringData: {token: hunter2}
extra: hunter3
`
	_, probs := LoadBytes("secret.yaml", []byte(in))
	want := `secret.yaml#1 Secret default/s: data[password]: Invalid value: (value omitted): must be a base64-encoded string (line 5)
secret.yaml#1 Secret default/s: extra: unknown field "extra" (line 7)`
	if probs.Error() != want {
		t.Errorf("problems:\n%s\nwant:\n%s", probs.Error(), want)
	}
	for _, p := range probs {
		s := p.String()
		for _, secret := range []string{"123456789", "hunter2", "hunter3"} {
			if strings.Contains(s, secret) {
				t.Errorf("message leaks Secret data: %s", s)
			}
		}
	}
}

func TestFoldersStdinAndExtra(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n"
	}
	write("b.yaml", cm("b"))
	write("a/z.yml", cm("z"))
	write("a/a.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"}}`)
	write("notes.txt", "not input")
	write(".git/x.yaml", "garbage: [")
	write("ext.yaml", "apiVersion: example.extensions.io/v1alpha1\nkind: ListenerContextExample\nmetadata: {name: e}\nspec: {username: u, password: p, targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: eg}]}\n")

	stdin := strings.NewReader(cm("from-stdin"))
	gvk := k8sschema.GroupVersionKind{Group: "example.extensions.io", Version: "v1alpha1", Kind: "ListenerContextExample"}
	crd, err := os.ReadFile("/work/shared/corpus/extension-server/example.extensions.io_listenercontextexamples.yaml")
	if err != nil {
		t.Skip("corpus not available:", err)
	}
	set, probs, err := Load([]string{dir, "-"}, WithStdin(stdin), WithExtraKinds(gvk), WithCRDs("ext-crds", crd))
	if err != nil || len(probs) > 0 {
		t.Fatal(err, probs)
	}
	var names []string
	for _, c := range set.ConfigMaps {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "j,z,b,from-stdin" {
		t.Errorf("order = %s, want sorted paths then stdin", got)
	}
	if len(set.Extra) != 1 || set.Extra[0].GetNamespace() != DefaultNamespace {
		t.Errorf("extra = %+v", set.Extra)
	}

	// The same extension object with a bad field is validated against its CRD.
	write("ext.yaml", "apiVersion: example.extensions.io/v1alpha1\nkind: ListenerContextExample\nmetadata: {name: e}\nspec: {usrname: u, password: p, targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: eg}]}\n")
	_, probs, _ = Load([]string{filepath.Join(dir, "ext.yaml")}, WithExtraKinds(gvk), WithCRDs("ext-crds", crd))
	if !strings.Contains(probs.Error(), `spec.usrname: unknown field "usrname", did you mean "username"?`) {
		t.Errorf("extension CRD not enforced: %v", probs)
	}

	// CRDs found in the input validate extra kinds too (an extension's folder).
	write("crds/ext-crd.yaml", string(crd))
	_, probs, _ = Load([]string{dir}, WithExtraKinds(gvk))
	if !strings.Contains(probs.Error(), `spec.usrname: unknown field "usrname", did you mean "username"?`) {
		t.Errorf("CRD from the input not used: %v", probs)
	}

	if _, _, err := Load([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing path must be an error")
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "eg.yaml")
	os.WriteFile(p, []byte("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nextensionApis:\n  enableEnvoyPatchPolicy: true\n"), 0o644)
	eg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if eg.Gateway.ControllerName != "gateway.envoyproxy.io/gatewayclass-controller" {
		t.Errorf("controllerName = %q", eg.Gateway.ControllerName)
	}
	if eg.ExtensionAPIs == nil || !eg.ExtensionAPIs.EnableEnvoyPatchPolicy {
		t.Errorf("extensionApis not decoded")
	}
	os.WriteFile(p, []byte("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nextensionApi:\n  enableLua: true\n"), 0o644)
	_, err = LoadConfig(p)
	want := p + `#1 EnvoyGateway: extensionApi: unknown field "extensionApi" (line 3)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
