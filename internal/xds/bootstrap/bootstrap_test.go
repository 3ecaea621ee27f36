package bootstrap

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestBuildValidates(t *testing.T) {
	for _, o := range []Options{EnvoyGatewayDefaults(), {XDSHost: "127.0.0.1", XDSPort: 18000, AdminAddress: "127.0.0.1", AdminPort: 19000, StatsAddress: "0.0.0.0", StatsPort: 19001, MaxDownstreamConnections: 1000}} {
		if err := Build(o).ValidateAll(); err != nil {
			t.Fatal(err)
		}
	}
}

// Envoy Gateway's SDS files for its /certs mount (the ConfigMap data its
// Kubernetes infrastructure writes, internal/infrastructure/kubernetes/proxy,
// SdsCAConfigMapData and SdsCertConfigMapData; copied as data).
const (
	egSDSTrustedCA   = `{"resources":[{"@type":"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret","name":"xds_trusted_ca","validation_context":{"trusted_ca":{"filename":"/certs/ca.crt"},"match_typed_subject_alt_names":[{"san_type":"DNS","matcher":{"exact":"envoy-gateway"}}]}}]}`
	egSDSCertificate = `{"resources":[{"@type":"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret","name":"xds_certificate","tls_certificate":{"certificate_chain":{"filename":"/certs/tls.crt"},"private_key":{"filename":"/certs/tls.key"}}}]}`
)

func TestSDSFilesAsEnvoyGateway(t *testing.T) {
	files, err := BuildSDSFiles("/certs", "envoy-gateway")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want []byte }{{files.TrustedCA, []byte(egSDSTrustedCA)}, {files.Certificate, []byte(egSDSCertificate)}} {
		var got, want any
		if err := json.Unmarshal(c.got, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(c.want, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

// telemetry.metrics.prometheus.disable: Envoy Gateway's bootstrap then has
// no stats listener and no prometheus_stats cluster; the rest stays.
func TestBuildWithoutPrometheus(t *testing.T) {
	o := EnvoyGatewayDefaults()
	o.DisablePrometheus = true
	b := Build(o)
	if err := b.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.StaticResources.Listeners); n != 0 {
		t.Errorf("%d static listeners, want none", n)
	}
	var names []string
	for _, c := range b.StaticResources.Clusters {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, " "); strings.Contains(got, "prometheus_stats") {
		t.Errorf("static clusters %s", got)
	}
	if len(names) != len(Build(EnvoyGatewayDefaults()).StaticResources.Clusters)-1 {
		t.Errorf("static clusters %v: only prometheus_stats should go", names)
	}
}
