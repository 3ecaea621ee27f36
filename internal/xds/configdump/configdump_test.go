package configdump

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
	"github.com/portico-gw/portico/internal/xds/translator"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// expected reads an egctl output file and returns xds[<gateway>].
func expected(t *testing.T, path, gw string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XDS map[string]any `json:"xds"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.XDS[gw]
}

// normalize round-trips through YAML so numbers compare alike.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBootstrapMatchesEnvoyGateway(t *testing.T) {
	got, err := Render(&xdstypes.Resources{}, bootstrap.Build(bootstrap.EnvoyGatewayDefaults()), Bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	want := expected(t, "testdata/from-gateway-api-to-xds.bootstrap.yaml", "default/eg")
	if g := normalize(t, got); !reflect.DeepEqual(g, normalize(t, want)) {
		gy, _ := yaml.Marshal(g)
		t.Fatalf("bootstrap differs; got:\n%s", gy)
	}
}

func TestQuickstartRoutesMatchEnvoyGateway(t *testing.T) {
	b, err := os.ReadFile("../translator/testdata/in/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	x := &ir.Xds{}
	if err := yaml.Unmarshal(b, x); err != nil {
		t.Fatal(err)
	}
	res, err := translator.Translate(x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Render(res, nil, Route)
	if err != nil {
		t.Fatal(err)
	}
	want := expected(t, "testdata/quickstart.route.yaml", "envoy-gateway-system/eg")
	if g := normalize(t, got); !reflect.DeepEqual(g, normalize(t, want)) {
		gy, _ := yaml.Marshal(g)
		t.Fatalf("routes differ; got:\n%s", gy)
	}
}

func TestAllSections(t *testing.T) {
	res := &xdstypes.Resources{}
	v, err := Render(res, bootstrap.Build(bootstrap.EnvoyGatewayDefaults()), All)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	var doc struct {
		Configs []map[string]any `json:"configs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, c := range doc.Configs {
		types = append(types, c["@type"].(string))
	}
	want := []string{
		"type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
		"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
		"type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
		"type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
		"type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
	}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("sections %v, want %v", types, want)
	}
	if _, err := ParseType("nope"); err == nil {
		t.Fatal("ParseType accepted an unknown type")
	}
}
