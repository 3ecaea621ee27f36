package bootstrap

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// invalidReplace is the bootstrap of Envoy Gateway's invalid-envoyproxy
// egctl case: a Replace that drops dynamic_resources.
const invalidReplace = `admin:
  access_log:
  - name: envoy.access_loggers.file
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
      path: /dev/null
  address:
    socket_address:
      address: 127.0.0.1
      port_value: 19000
`

func TestValidate(t *testing.T) {
	typ := func(t egv1a1.BootstrapType) *egv1a1.BootstrapType { return &t }
	str := func(s string) *string { return &s }
	cases := []struct {
		name string
		in   *egv1a1.ProxyBootstrap
		want string // "" for valid
	}{
		{"nil", nil, ""},
		{"replace without dynamic_resources", &egv1a1.ProxyBootstrap{Type: typ(egv1a1.BootstrapTypeReplace), Value: str(invalidReplace)}, "dynamic_resources cannot be modified"},
		{"type defaults to Replace", &egv1a1.ProxyBootstrap{Value: str(invalidReplace)}, "dynamic_resources cannot be modified"},
		{"merge keeps the defaults", &egv1a1.ProxyBootstrap{Type: typ(egv1a1.BootstrapTypeMerge), Value: str("stats_flush_interval: 10s\n")}, ""},
		{"unknown field", &egv1a1.ProxyBootstrap{Type: typ(egv1a1.BootstrapTypeMerge), Value: str("nonsense: 1\n")}, "unable to unmarshal user bootstrap: "},
		{"not YAML", &egv1a1.ProxyBootstrap{Type: typ(egv1a1.BootstrapTypeMerge), Value: str("a: [\n")}, "unable to convert user bootstrap to json: "},
		{"proto constraint", &egv1a1.ProxyBootstrap{Type: typ(egv1a1.BootstrapTypeMerge), Value: str("stats_flush_interval: 0.0001s\n")}, "validation failed for user bootstrap: "},
		{"patch the xds_cluster address", &egv1a1.ProxyBootstrap{Type: typ(egv1a1.BootstrapTypeJSONPatch), JSONPatches: []egv1a1.JSONPatchOperation{{
			Op: "replace", Path: str("/staticResources/clusters/2/loadAssignment/endpoints/0/lbEndpoints/0/endpoint/address/socketAddress/portValue"),
			Value: &apiextensionsv1.JSON{Raw: []byte("18001")}}}}, "xds_cluster's loadAssigntment cannot be modified"},
		{"harmless patch", &egv1a1.ProxyBootstrap{Type: typ(egv1a1.BootstrapTypeJSONPatch), JSONPatches: []egv1a1.JSONPatchOperation{{
			Op: "add", Path: str("/statsFlushInterval"), Value: &apiextensionsv1.JSON{Raw: []byte(`"10s"`)}}}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.in)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
				t.Fatalf("error %v, want prefix %q", err, c.want)
			}
		})
	}
}
