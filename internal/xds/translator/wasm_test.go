package translator

import (
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/portico-gw/portico/internal/ir"
)

// The wasm corpus case (Envoy Gateway's xds-ir/wasm.yaml and its expected
// xDS) is compared by TestCompatEnvoyGateway; the route configuration has
// Lua's one deliberate difference, checked by TestWasmCompatRoute.
func init() {
	compatDifferences["wasm"] = map[string]string{
		"route/envoy-gateway/gateway-1/http": "FilterConfig without Envoy Gateway's empty `config: {}` Any (see lua.go); compared by TestWasmCompatRoute",
	}
}

func TestWasmCompatRoute(t *testing.T) { compareRouteWithoutEmptyFilterConfig(t, "wasm", 4) }

// Without a client certificate (standalone), wasm_cluster reaches the
// wasm server named in the IR in plaintext; a route without Wasm adds no
// cluster.
func TestWasmClusterStandalone(t *testing.T) {
	prefix := "/"
	mk := func(wasms []ir.Wasm) *ir.Xds {
		return &ir.Xds{
			GlobalResources: &ir.GlobalResources{WasmServer: &ir.WasmServer{Host: "127.0.0.1", Port: 18002}},
			HTTP: []*ir.HTTPListener{{Name: "ns/gw/http", Address: "0.0.0.0", Port: 10080, Routes: []*ir.HTTPRoute{{
				Name: "r", Hostname: "*", PathMatch: &ir.StringMatch{Prefix: &prefix},
				DirectResponse:  &ir.DirectResponse{StatusCode: 200},
				EnvoyExtensions: &ir.EnvoyExtensionFeatures{Wasms: wasms},
			}}}},
		}
	}
	res, err := Translate(mk([]ir.Wasm{{Name: "envoyextensionpolicy/ns/p/wasm/0", WasmName: "w",
		Code: &ir.HTTPWasmCode{ServingURL: "http://127.0.0.1:18002/x.wasm", SHA256: "ab"}}}))
	if err != nil {
		t.Fatal(err)
	}
	var wc *clusterv3.Cluster
	for _, c := range res.Clusters {
		if c.GetName() == WasmClusterName {
			wc = c
		}
	}
	if wc == nil {
		t.Fatal("no wasm_cluster")
	}
	if wc.GetTransportSocket() != nil || len(res.Secrets) != 0 {
		t.Errorf("plaintext expected without a client certificate: %v", wc.GetTransportSocket())
	}
	if wc.GetType() != clusterv3.Cluster_EDS || len(res.Endpoints) != 1 ||
		res.Endpoints[0].GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue() != 18002 {
		t.Errorf("wasm_cluster endpoints: %v", res.Endpoints)
	}
	if n := hcmFilterNames(res); len(n) != 2 || n[0] != "envoy.filters.http.wasm/envoyextensionpolicy/ns/p/wasm/0" {
		t.Errorf("filters %v", n)
	}
	res, err = Translate(mk(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Clusters {
		if c.GetName() == WasmClusterName {
			t.Error("wasm_cluster without any Wasm route")
		}
	}

	// With the proxies' certificate files (standalone), mutual TLS whose
	// key never travels in xDS: the secret names files.
	x := mk([]ir.Wasm{{Name: "envoyextensionpolicy/ns/p/wasm/0", WasmName: "w",
		Code: &ir.HTTPWasmCode{ServingURL: "https://127.0.0.1:18002/x.wasm", SHA256: "ab"}}})
	x.GlobalResources.WasmServer.TLS = &ir.WasmServerTLS{CAFile: "/s/ca.crt", CertificateFile: "/s/tls.crt", KeyFile: "/s/tls.key"}
	if res, err = Translate(x); err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Clusters {
		if c.GetName() == WasmClusterName {
			wc = c
		}
	}
	var up tlsv3.UpstreamTlsContext
	if err := wc.GetTransportSocket().GetTypedConfig().UnmarshalTo(&up); err != nil {
		t.Fatalf("wasm_cluster transport socket: %v", err)
	}
	common := up.GetCommonTlsContext()
	if ca := common.GetValidationContext().GetTrustedCa().GetFilename(); ca != "/s/ca.crt" {
		t.Errorf("trusted CA %q", ca)
	}
	if len(res.Secrets) != 1 || len(common.GetTlsCertificateSdsSecretConfigs()) != 1 ||
		common.GetTlsCertificateSdsSecretConfigs()[0].GetName() != res.Secrets[0].GetName() {
		t.Fatalf("client certificate secret: %v / %v", common.GetTlsCertificateSdsSecretConfigs(), res.Secrets)
	}
	tc := res.Secrets[0].GetTlsCertificate()
	if tc.GetCertificateChain().GetFilename() != "/s/tls.crt" || tc.GetPrivateKey().GetFilename() != "/s/tls.key" {
		t.Errorf("the secret must name the files: %v", tc)
	}
}

// A config that is not JSON is the route's error, not a crash.
func TestWasmBadConfig(t *testing.T) {
	if _, err := wasmConfiguration([]byte("{not json")); err == nil {
		t.Fatal("want an error")
	}
	for in, want := range map[string]string{"": "", "null": "", ` { "a" : 1 } `: `{"a":1}`} {
		if got, err := wasmConfiguration([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
}
