package helmchart

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/internal/resource"
)

func TestMain(m *testing.M) {
	// Helm's loader logs every linked file (charts/portico/crds links to
	// config/crd) at info level through the default logger.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}

func TestLint(t *testing.T) {
	if msgs := Lint(nil, "envoy-gateway-system"); len(msgs) > 0 {
		t.Fatalf("helm lint:\n%s", strings.Join(msgs, "\n"))
	}
}

func render(t *testing.T, values map[string]any) *Rendered {
	t.Helper()
	r, err := Render("eg", "envoy-gateway-system", values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// What the guides rely on: the names, ports and configuration of
// gateway-helm.
func TestRenderMirrorsGatewayHelm(t *testing.T) {
	r := render(t, nil)
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(r.Manifests["portico/templates/envoy-gateway-deployment.yaml"]), &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Name != "envoy-gateway" || dep.Namespace != "envoy-gateway-system" {
		t.Fatalf("Deployment %s/%s", dep.Namespace, dep.Name)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if strings.Join(c.Args, " ") != "server --config-path=/config/envoy-gateway.yaml" {
		t.Errorf("args = %v", c.Args)
	}
	var svc corev1.Service
	if err := yaml.UnmarshalStrict([]byte(r.Manifests["portico/templates/envoy-gateway-service.yaml"]), &svc); err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name)
	}
	if svc.Name != "envoy-gateway" || strings.Join(ports, ",") != "grpc,wasm,metrics" || svc.Spec.Ports[0].Port != 18000 {
		t.Errorf("Service %s ports %v", svc.Name, svc.Spec.Ports)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict([]byte(r.Manifests["portico/templates/envoy-gateway-config.yaml"]), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Name != "envoy-gateway-config" {
		t.Errorf("ConfigMap %s", cm.Name)
	}
	// The configuration is an EnvoyGateway Portico accepts as it is.
	cfg, err := resource.ParseConfig("envoy-gateway.yaml", []byte(cm.Data["envoy-gateway.yaml"]))
	if err != nil {
		t.Fatalf("envoy-gateway.yaml: %v\n%s", err, cm.Data["envoy-gateway.yaml"])
	}
	if cfg.Provider == nil || cfg.Provider.Type != "Kubernetes" || cfg.Gateway.ControllerName != "gateway.envoyproxy.io/gatewayclass-controller" {
		t.Errorf("config = %+v", cfg)
	}
	if _, ok := r.Hooks["portico/templates/certgen.yaml"]; !ok {
		t.Errorf("no certgen hook among %v", Names(r.Hooks))
	}
}

// Values edit the configuration as the guides' helm --set lines do.
func TestRenderConfigValues(t *testing.T) {
	r := render(t, map[string]any{"config": map[string]any{"envoyGateway": map[string]any{
		"extensionApis": map[string]any{"enableEnvoyPatchPolicy": true}}}})
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(r.Manifests["portico/templates/envoy-gateway-config.yaml"]), &cm); err != nil {
		t.Fatal(err)
	}
	cfg, err := resource.ParseConfig("envoy-gateway.yaml", []byte(cm.Data["envoy-gateway.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ExtensionAPIs == nil || !cfg.ExtensionAPIs.EnableEnvoyPatchPolicy {
		t.Fatalf("extensionApis = %+v", cfg.ExtensionAPIs)
	}
}

// charts/portico/crds holds every CRD of config/crd (as links), so that
// `kubectl apply --server-side -f charts/portico/crds` installs them all.
func TestCRDsAreTheValidatedOnes(t *testing.T) {
	r := render(t, nil)
	want, err := filepath.Glob(filepath.Join(Dir(), "..", "..", "config", "crd", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.CRDs) != len(want) {
		t.Fatalf("chart CRDs %v, config/crd has %d", Names(r.CRDs), len(want))
	}
	if testing.Verbose() {
		t.Log(Names(r.CRDs))
	}
	for _, path := range want {
		got, ok := r.CRDs["portico/crds/"+filepath.Base(path)]
		b, _ := os.ReadFile(path)
		if !ok || string(got) != string(b) {
			t.Errorf("%s: missing or different in charts/portico/crds", filepath.Base(path))
		}
	}
}
