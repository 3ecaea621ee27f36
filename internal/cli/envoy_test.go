package cli

import "testing"

func TestIsEnvoyCommandLine(t *testing.T) {
	for _, tc := range []struct {
		argv0 string
		args  []string
		want  bool
	}{
		{"/usr/local/bin/envoy", nil, true},
		{"portico", []string{"--service-cluster", "a/b", "--config-yaml", "{}"}, true},
		{"portico", []string{"-c", "/etc/envoy.yaml"}, true},
		{"portico", []string{"--config-path=/etc/envoy.yaml"}, true},
		{"portico", []string{"--xds-address", "127.0.0.1:18000", "--cluster", "a/b"}, false},
		{"portico", []string{"--certs", "/c"}, false},
	} {
		if got := IsEnvoyCommandLine(tc.argv0, tc.args); got != tc.want {
			t.Errorf("IsEnvoyCommandLine(%q, %q) = %v", tc.argv0, tc.args, got)
		}
	}
}

// Envoy's command line with a plaintext bootstrap is refused: the built-in
// proxy talks to its control plane over mutual TLS only.
func TestEnvoyMainRefusesPlaintext(t *testing.T) {
	boot := `{dynamic_resources: {ads_config: {api_type: DELTA_GRPC, grpc_services: [{envoy_grpc: {cluster_name: xds}}]}},
static_resources: {clusters: [{name: xds, load_assignment: {cluster_name: xds, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 18000}}}}]}]}}]}}`
	if err := envoyMain([]string{"--service-cluster", "default/eg", "--config-yaml", boot}); err == nil ||
		err.Error() != "the bootstrap's xDS cluster has no TLS: the built-in proxy talks to its control plane over mutual TLS only" {
		t.Fatalf("err = %v", err)
	}
	if err := envoyMain([]string{"--config-yaml", boot}); err == nil || err.Error() != "no fleet: give --service-cluster (or node.cluster in the bootstrap)" {
		t.Fatalf("err = %v", err)
	}
}
