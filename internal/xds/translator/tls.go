package translator

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/portico-gw/portico/internal/ir"
)

const tlsTransportSocket = "envoy.transport_sockets.tls"

// defaultALPN is what a TLS listener offers when the IR leaves
// alpnProtocols unset (nil); an empty non-nil list offers none.
var defaultALPN = []string{"h2", "http/1.1"}

var tlsVersions = map[string]tlsv3.TlsParameters_TlsProtocol{
	"1.0": tlsv3.TlsParameters_TLSv1_0,
	"1.1": tlsv3.TlsParameters_TLSv1_1,
	"1.2": tlsv3.TlsParameters_TLSv1_2,
	"1.3": tlsv3.TlsParameters_TLSv1_3,
}

// httpsFilterChain is the filter chain of one HTTPS IR listener: matched by
// SNI on its hostnames, its own HCM and route configuration (named after the
// IR listener), TLS terminated with its certificates fetched over SDS.
func httpsFilterChain(x *ir.Xds, l *ir.HTTPListener, s *Sink, e *errs) (*listenerv3.FilterChain, []*tlsv3.Secret, error) {
	alpn := l.TLS.AlpnProtocols
	if alpn == nil {
		alpn = defaultALPN
	}
	ts, secrets, err := downstreamTLS(l.TLS, alpn)
	if err != nil {
		return nil, nil, err
	}
	hcm, err := buildHCM(x, l, []*ir.HTTPListener{l}, l.Name, s, e)
	if err != nil {
		return nil, nil, err
	}
	chain := hcmFilterChain(l.Name, hcm)
	if names := serverNames(l.Hostnames); len(names) > 0 {
		chain.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
	}
	chain.TransportSocket = ts
	return chain, secrets, nil
}

// downstreamTLS is Envoy Gateway's DownstreamTlsContext for cfg, offering
// alpn, as a transport socket, with the secrets it names.
func downstreamTLS(cfg *ir.TLSConfig, alpn []string) (*corev3.TransportSocket, []*tlsv3.Secret, error) {
	if len(cfg.Certificates) == 0 {
		return nil, nil, fmt.Errorf("TLS listener has no certificate")
	}
	params, err := tlsParams(cfg.MinVersion, cfg.MaxVersion)
	if err != nil {
		return nil, nil, err
	}
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: alpn,
			TlsParams:     params,
		},
		DisableStatefulSessionResumption: true,
		SessionTicketKeysType:            &tlsv3.DownstreamTlsContext_DisableStatelessSessionResumption{DisableStatelessSessionResumption: true},
	}
	var secrets []*tlsv3.Secret
	for _, c := range cfg.Certificates {
		ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = append(ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs, sdsSecret(c.Name))
		secrets = append(secrets, certificateSecret(c))
	}
	return &corev3.TransportSocket{
		Name:       tlsTransportSocket,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}, secrets, nil
}

// serverNames drops the catch-all "*", which matches without SNI.
func serverNames(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if h != "*" && h != "" {
			out = append(out, h)
		}
	}
	return out
}

func tlsParams(minV, maxV string) (*tlsv3.TlsParameters, error) {
	if minV == "" && maxV == "" {
		return nil, nil
	}
	p := &tlsv3.TlsParameters{}
	for _, v := range []struct {
		s   string
		dst *tlsv3.TlsParameters_TlsProtocol
	}{{minV, &p.TlsMinimumProtocolVersion}, {maxV, &p.TlsMaximumProtocolVersion}} {
		if v.s == "" {
			continue
		}
		pv, ok := tlsVersions[v.s]
		if !ok {
			return nil, fmt.Errorf("unknown TLS version %q", v.s)
		}
		*v.dst = pv
	}
	return p, nil
}

func sdsSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsConfigSource()}
}

func certificateSecret(c ir.TLSCertificate) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: c.Name,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(c.Certificate),
			PrivateKey:       inlineBytes(c.PrivateKey),
		}},
	}
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}
