package translator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/ir"
)

// Names and values Envoy Gateway uses for Wasm, which proxies and patch
// policies written for it expect.
const (
	wasmFilterName = "envoy.filters.http.wasm"
	// WasmClusterName is the cluster proxies download modules through.
	WasmClusterName = "wasm_cluster"
	wasmRuntime     = "envoy.wasm.runtime.v8"
	wasmDefaultHost = "envoy-gateway.envoy-gateway-system.svc.cluster.local"
	wasmDefaultPort = 18002
	wasmCAFile      = "/certs/ca.crt"
	// wasmFileSecret is the proxies' client certificate for wasm_cluster
	// when they read it from files (ir.WasmServerTLS).
	wasmFileSecret    = "portico/wasm-client-certificate"
	wasmFetchTimeout  = 10 * time.Second
	wasmFetchRetries  = 10
	wasmRetryBase     = time.Second
	wasmRetryMax      = 30 * time.Second
	wasmClusterRegion = WasmClusterName + "/backend/-1"
)

// Wasm filters follow the Lua layout: one disabled HCM entry per module
// instance (envoy.filters.http.wasm/<IR name>), enabled by each route that
// uses it. The module is never inlined: proxies download it from the
// control plane's wasm server through wasm_cluster and check its sha256,
// so a large module costs the xDS nothing and the proxy learns only a URL
// and a digest.
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     wasmFilterName,
		Rank:     RankWasm,
		Listener: wasmListenerFilters,
		Route:    wasmRouteConfig,
	})
}

func wasmInstanceName(w *ir.Wasm) string { return wasmFilterName + "/" + w.Name }

// wasmListenerFilters lists the distinct Wasm instances of the HCM's
// routes and adds wasm_cluster when there is one.
func wasmListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	out, err := extensionFilters(c, func(e *ir.EnvoyExtensionFeatures) []ir.Wasm { return e.Wasms },
		func(w *ir.Wasm) string { return w.Name },
		func(r *ir.HTTPRoute, w *ir.Wasm) (*hcmv3.HttpFilter, error) {
			f, err := wasmHTTPFilter(w)
			if err != nil {
				return nil, fmt.Errorf("route %s: %w", r.Name, err)
			}
			return f, nil
		})
	if err != nil || len(out) == 0 {
		return out, err
	}
	if err := addWasmCluster(c.Xds, c.Sink); err != nil {
		return nil, err
	}
	return out, nil
}

func wasmHTTPFilter(w *ir.Wasm) (*hcmv3.HttpFilter, error) {
	if w.Name == "" || w.Code == nil {
		return nil, fmt.Errorf("wasm filter without name or code")
	}
	cfg, err := wasmConfiguration(w.Config)
	if err != nil {
		return nil, fmt.Errorf("wasm %s: config: %w", w.Name, err)
	}
	vm := &wasmv3.VmConfig{
		VmId:    w.Name,
		Runtime: wasmRuntime,
		Code: &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Remote{Remote: &corev3.RemoteDataSource{
			HttpUri: &corev3.HttpUri{
				Uri:              w.Code.ServingURL,
				HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: WasmClusterName},
				Timeout:          durationpb.New(wasmFetchTimeout),
			},
			Sha256: w.Code.SHA256,
			RetryPolicy: &corev3.RetryPolicy{
				RetryBackOff: &corev3.BackoffStrategy{
					BaseInterval: durationpb.New(wasmRetryBase),
					MaxInterval:  durationpb.New(wasmRetryMax),
				},
				NumRetries: wrapUint32(wasmFetchRetries),
			},
		}}},
	}
	if len(w.HostKeys) > 0 {
		vm.EnvironmentVariables = &wasmv3.EnvironmentVariables{HostEnvKeys: w.HostKeys}
	}
	pc := &wasmv3.PluginConfig{
		Name:          w.WasmName,
		Configuration: mustAny(wrapperspb.String(cfg)),
		FailOpen:      w.FailOpen, //nolint:staticcheck // the field Envoy Gateway sets
		Vm:            &wasmv3.PluginConfig_VmConfig{VmConfig: vm},
	}
	if w.RootID != nil {
		pc.RootId = *w.RootID
	}
	f, err := disabledFilter(wasmInstanceName(w), &wasmfilterv3.Wasm{Config: pc})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// wasmConfiguration is the plugin configuration as compact JSON ("" when
// the policy has none, as Envoy Gateway sends it).
func wasmConfiguration(raw json.RawMessage) (string, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return "", nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, trimmed); err != nil {
		return "", err
	}
	return b.String(), nil
}

// addWasmCluster adds wasm_cluster: the control plane's wasm server, over
// HTTP/2, with mutual TLS when the proxies have a client certificate (as
// on Kubernetes) and in plaintext on loopback otherwise.
func addWasmCluster(x *ir.Xds, s *Sink) error {
	if s.HasCluster(WasmClusterName) {
		return nil
	}
	host, port := wasmDefaultHost, uint32(wasmDefaultPort)
	var cert *ir.TLSCertificate
	var files *ir.WasmServerTLS
	if g := x.GlobalResources; g != nil {
		if g.WasmServer != nil {
			host, port, files = g.WasmServer.Host, g.WasmServer.Port, g.WasmServer.TLS
		}
		cert = g.EnvoyClientCertificate
	}
	spec := clusterSpec{name: WasmClusterName, settings: []*ir.DestinationSetting{{
		Name:      wasmClusterRegion,
		Protocol:  "HTTP2",
		Endpoints: []*ir.DestinationEndpoint{{Host: host, Port: port}},
	}}}
	c, cla, err := buildCluster(spec, s)
	if err != nil {
		return fmt.Errorf("%s: %w", WasmClusterName, err)
	}
	switch {
	case files != nil:
		c.TransportSocket = wasmClusterTLS(wasmFileSecret, files.CAFile)
		s.AddSecret(&tlsv3.Secret{Name: wasmFileSecret, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: files.CertificateFile}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: files.KeyFile}},
		}}})
	case cert != nil:
		c.TransportSocket = wasmClusterTLS(cert.Name, wasmCAFile)
		s.AddSecret(&tlsv3.Secret{Name: cert.Name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: cert.Certificate}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: cert.PrivateKey}},
		}}})
	}
	s.AddCluster(c, cla)
	return nil
}

func wasmClusterTLS(secret, caFile string) *corev3.TransportSocket {
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{
			Name:      secret,
			SdsConfig: adsConfigSource(),
		}},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: caFile}},
		}},
	}}
	return &corev3.TransportSocket{Name: tlsTransportSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}}
}

// wasmRouteConfig enables the route's Wasm instances.
func wasmRouteConfig(c *RouteContext) error {
	if c.IR.EnvoyExtensions == nil {
		return nil
	}
	for i := range c.IR.EnvoyExtensions.Wasms {
		// Envoy Gateway's empty `config: {}` Any is left out, as for Lua.
		if err := c.SetPerFilterConfig(wasmInstanceName(&c.IR.EnvoyExtensions.Wasms[i]), &routev3.FilterConfig{}); err != nil {
			return err
		}
	}
	return nil
}
