package v1alpha1

import (
	"os"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

func decodeFile[T any](t *testing.T, path string, index int, into T) T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := splitYAML(t, data)
	if err := decodeStrict(docs[index], into); err != nil {
		t.Fatal(err)
	}
	return into
}

// TestDecodedValues spot-checks that fields land where the translators will
// look for them.
func TestDecodedValues(t *testing.T) {
	eg := decodeFile(t, "testdata/portico/portico-standalone.yaml", 0, &EnvoyGateway{})
	if eg.Kind != KindEnvoyGateway || eg.Provider.Type != ProviderTypeCustom ||
		eg.Provider.Custom.Resource.File.Paths[0] != "/etc/portico/resources" ||
		eg.Provider.Custom.Infrastructure.Type != InfrastructureProviderTypeHost {
		t.Errorf("provider: %+v", eg.Provider)
	}
	if !eg.RuntimeFlags.IsEnabled(XDSNameSchemeV2) || !eg.ExtensionAPIs.EnableEnvoyPatchPolicy {
		t.Errorf("flags: %+v %+v", eg.RuntimeFlags, eg.ExtensionAPIs)
	}
	if len(eg.ExtensionManagers) != 2 || eg.ExtensionManagers[0].Service.Unix.Path != "/run/portico/ext.sock" ||
		eg.ExtensionManagers[0].MaxMessageSize.Value() != 8_000_000 ||
		!*eg.ExtensionManagers[0].Hooks.XDSTranslator.Translation.Listener.IncludeAll {
		t.Errorf("extension managers: %+v", eg.ExtensionManagers[0])
	}
	retry := eg.ExtensionManagers[1].Service.Retry
	if *retry.MaxAttempts != 4 || *retry.InitialBackoff != "100ms" || len(retry.RetryableStatusCodes) != 2 {
		t.Errorf("retry: %+v", retry)
	}

	epp := decodeFile(t, "testdata/guide/envoypatchpolicy-jsonpath.yaml", 0, &EnvoyPatchPolicy{})
	op := epp.Spec.JSONPatches[0].Operation
	if *op.JSONPath != "..virtual_hosts[?match(@.name, '.*www_example_com')]" || string(op.Value.Raw) != "true" {
		t.Errorf("operation: %+v", op)
	}
	epp = decodeFile(t, "testdata/corpus/egctl-envoy-patch-policy.yaml", 6, &EnvoyPatchPolicy{})
	if ns := epp.Spec.TargetRef.Namespace; ns == nil || *ns != "default" || len(epp.Spec.JSONPatches) != 3 {
		t.Errorf("targetRef: %+v", epp.Spec.TargetRef)
	}

	ep := decodeFile(t, "testdata/guide/opa-envoyproxy.yaml", 0, &EnvoyProxy{})
	patch := ep.Spec.Provider.Kubernetes.EnvoyDeployment.Patch
	if *patch.Type != StrategicMerge || !strings.Contains(string(patch.Value.Raw), `"openpolicyagent/opa:1.10.1-envoy-5-static"`) {
		t.Errorf("patch: %s", patch.Value.Raw)
	}
	if fo := ep.Spec.FilterOrder[0]; fo.Name != "envoy.filters.http.ext_authz" || *fo.After != "envoy.filters.http.jwt_authn" {
		t.Errorf("filterOrder: %+v", fo)
	}
	if got := ep.Spec.EffectiveLuaValidation(); got != LuaValidationStrict {
		t.Errorf("default lua validation = %s", got)
	}
	full := decodeFile(t, "testdata/portico/envoyproxy-full.yaml", 0, &EnvoyProxy{})
	if got := full.Spec.EffectiveLuaValidation(); got != LuaValidationInsecureSyntax {
		t.Errorf("luaValidation should win over lua.validationType, got %s", got)
	}

	eep := decodeFile(t, "testdata/portico/envoyextensionpolicy-full.yaml", 0, &EnvoyExtensionPolicy{})
	w := eep.Spec.Wasm[0]
	if w.Code.Type != ImageWasmCodeSourceType || w.Code.Image.PullSecretRef.Name != "regcred" ||
		!strings.Contains(string(w.Config.Raw), `[1,2.5,"three",null,true]`) {
		t.Errorf("wasm: %+v %s", w.Code, w.Config.Raw)
	}
	if m := eep.Spec.ExtProc[0].ProcessingMode; *m.Request.Body != BufferedExtProcBodyProcessingMode || !m.AllowModeOverride {
		t.Errorf("processingMode: %+v", m)
	}

	sp := decodeFile(t, "testdata/guide/opa-securitypolicy-backend.yaml", 0, &SecurityPolicy{})
	if sp.Spec.TargetSelectors[0].MatchLabels["auth"] != "opa-jwt" ||
		sp.Spec.JWT.Providers[0].ClaimToHeaders[0].Claim != "iss" ||
		string(*sp.Spec.ExtAuth.GRPC.BackendRefs[0].Kind) != "Backend" {
		t.Errorf("security policy: %+v", sp.Spec)
	}
	be := decodeFile(t, "testdata/guide/opa-securitypolicy-backend.yaml", 1, &Backend{})
	if be.Spec.Endpoints[0].Unix.Path != "/shared/opa/opa.sock" {
		t.Errorf("backend: %+v", be.Spec)
	}
}

func TestSchemeAndDeepCopy(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{KindEnvoyGateway, KindEnvoyProxy, KindEnvoyPatchPolicy, KindEnvoyExtensionPolicy, KindSecurityPolicy, KindBackend} {
		if _, err := s.New(GroupVersion.WithKind(kind)); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	eep := decodeFile(t, "testdata/portico/envoyextensionpolicy-full.yaml", 0, &EnvoyExtensionPolicy{})
	cp := eep.DeepCopyObject().(*EnvoyExtensionPolicy)
	cp.Spec.Wasm[0].Config.Raw[0] = 'X'
	if eep.Spec.Wasm[0].Config.Raw[0] == 'X' {
		t.Error("DeepCopy shares raw JSON")
	}
	eg := decodeFile(t, "testdata/portico/portico-standalone.yaml", 0, &EnvoyGateway{})
	egc := eg.DeepCopyObject().(*EnvoyGateway)
	egc.ExtensionManagers[0].Name = "changed"
	if eg.ExtensionManagers[0].Name != "first" {
		t.Error("DeepCopy shares extension managers")
	}
}

// schemaAt walks properties (and array items) of a CRD schema.
func schemaAt(t *testing.T, s *apiextensionsv1.JSONSchemaProps, path ...string) *apiextensionsv1.JSONSchemaProps {
	t.Helper()
	for _, p := range path {
		if s.Items != nil && s.Items.Schema != nil {
			s = s.Items.Schema
		}
		next, ok := s.Properties[p]
		if !ok {
			t.Fatalf("no property %q in schema (path %v)", p, path)
		}
		s = &next
	}
	return s
}

// TestGeneratedCRDs checks that the checked-in CRDs carry the validation
// the API relies on, including free-form JSON where arbitrary values belong.
func TestGeneratedCRDs(t *testing.T) {
	load := func(file string) *apiextensionsv1.JSONSchemaProps {
		data, err := os.ReadFile("../../config/crd/portico/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			t.Fatal(err)
		}
		if crd.Spec.Group != GroupName || len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1alpha1" {
			t.Fatalf("%s: unexpected group/version", file)
		}
		return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	}
	preserve := func(s *apiextensionsv1.JSONSchemaProps, what string) {
		if s.XPreserveUnknownFields == nil || !*s.XPreserveUnknownFields {
			t.Errorf("%s must allow arbitrary JSON (x-kubernetes-preserve-unknown-fields)", what)
		}
	}
	enum := func(s *apiextensionsv1.JSONSchemaProps, what string, want ...string) {
		got := map[string]bool{}
		for _, e := range s.Enum {
			got[strings.Trim(string(e.Raw), `"`)] = true
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s: enum lacks %q (has %v)", what, w, got)
			}
		}
	}

	epp := load("gateway.envoyproxy.io_envoypatchpolicies.yaml")
	preserve(schemaAt(t, epp, "spec", "jsonPatches", "operation", "value"), "EnvoyPatchPolicy operation.value")
	enum(schemaAt(t, epp, "spec", "jsonPatches", "operation", "op"), "op", "add", "remove", "replace", "move", "copy", "test")
	enum(schemaAt(t, epp, "spec", "type"), "type", "JSONPatch")
	if _, ok := schemaAt(t, epp, "status").Properties["ancestors"]; !ok {
		t.Error("EnvoyPatchPolicy status is not a PolicyStatus")
	}

	eep := load("gateway.envoyproxy.io_envoyextensionpolicies.yaml")
	preserve(schemaAt(t, eep, "spec", "wasm", "config"), "Wasm config")
	enum(schemaAt(t, eep, "spec", "wasm", "code", "type"), "wasm code type", "HTTP", "Image", "ConfigMap")
	enum(schemaAt(t, eep, "spec", "lua", "type"), "lua type", "Inline", "ValueRef")
	enum(schemaAt(t, eep, "spec", "extProc", "processingMode", "request", "body"), "body", "Buffered", "Streamed", "BufferedPartial", "FullDuplexStreamed")
	if len(schemaAt(t, eep, "spec").XValidations) == 0 {
		t.Error("EnvoyExtensionPolicy spec lacks the target reference rule")
	}

	ep := load("gateway.envoyproxy.io_envoyproxies.yaml")
	preserve(schemaAt(t, ep, "spec", "provider", "kubernetes", "envoyDeployment", "patch", "value"), "EnvoyProxy deployment patch value")
	enum(schemaAt(t, ep, "spec", "luaValidation"), "luaValidation", "Strict", "InsecureSyntax", "Disabled")
	enum(schemaAt(t, ep, "spec", "provider", "type"), "provider type", "Kubernetes", "Host")
	enum(schemaAt(t, ep, "spec", "provider", "kubernetes", "envoyDeployment", "patch", "type"), "patch type", "StrategicMerge", "JSONMerge")

	be := load("gateway.envoyproxy.io_backends.yaml")
	if len(schemaAt(t, be, "spec", "endpoints").Items.Schema.XValidations) == 0 {
		t.Error("Backend endpoints lack the one-of rule")
	}
	if p := schemaAt(t, be, "spec", "endpoints", "fqdn", "port"); p.Maximum == nil || *p.Maximum != 65535 {
		t.Error("Backend port lacks its maximum")
	}
	load("gateway.envoyproxy.io_securitypolicies.yaml")
}
