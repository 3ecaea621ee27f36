package translator

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/ir"
)

// systemTrustStore is the CA bundle Envoy Gateway points at for
// useSystemTrustStore.
const systemTrustStore = "/etc/ssl/certs/ca-certificates.crt"

// addUpstreamTLS adds one transport socket match per backend setting with
// TLS (named <cluster>/tls/<i>, selected by the endpoints' metadata), as
// Envoy Gateway does. When every backend uses TLS the default transport
// socket is an empty TLS context, so nothing falls back to plaintext.
func addUpstreamTLS(c *clusterv3.Cluster, spec clusterSpec, s *Sink) error {
	withTLS, live := 0, 0
	for i, st := range spec.settings {
		if len(st.Endpoints) > 0 {
			live++
		}
		if st.TLS == nil {
			continue
		}
		if len(st.Endpoints) > 0 {
			withTLS++
		}
		ctx, secrets, err := upstreamTLSContext(st.TLS)
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			s.AddSecret(sec)
		}
		name := tlsMatchName(spec.name, i)
		c.TransportSocketMatches = append(c.TransportSocketMatches, &clusterv3.Cluster_TransportSocketMatch{
			Name:  name,
			Match: &structpb.Struct{Fields: map[string]*structpb.Value{"name": structpb.NewStringValue(name)}},
			TransportSocket: &corev3.TransportSocket{
				Name:       tlsTransportSocket,
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
			},
		})
	}
	if withTLS > 0 && withTLS == live {
		c.TransportSocket = &corev3.TransportSocket{
			Name: "dummy.transport_socket",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
				CommonTlsContext: &tlsv3.CommonTlsContext{},
			})},
		}
	}
	return nil
}

func upstreamTLSContext(t *ir.TLSUpstreamConfig) (*tlsv3.UpstreamTlsContext, []*tlsv3.Secret, error) {
	params, err := tlsParams(t.MinVersion, t.MaxVersion)
	if err != nil {
		return nil, nil, err
	}
	common := &tlsv3.CommonTlsContext{AlpnProtocols: t.AlpnProtocols, TlsParams: params}
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: common}
	if t.SNI != nil {
		ctx.Sni = *t.SNI
	}
	sans, err := subjectAltNameMatchers(t)
	if err != nil {
		return nil, nil, err
	}
	var secrets []*tlsv3.Secret
	// The CA travels as an SDS secret (one per BackendTLSPolicy, or the
	// shared system one), the SAN matchers inline beside it.
	var ca *tlsv3.Secret
	switch {
	case t.CACertificate != nil:
		ca = &tlsv3.Secret{
			Name: t.CACertificate.Name,
			Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inlineBytes(t.CACertificate.Certificate),
			}},
		}
	case t.UseSystemTrustStore:
		ca = &tlsv3.Secret{
			Name: systemCASecret,
			Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: systemTrustStore}},
			}},
		}
	}
	if ca != nil {
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
				ValidationContextSdsSecretConfig: sdsSecret(ca.GetName()),
			},
		}
		secrets = append(secrets, ca)
	}
	for _, cc := range t.ClientCertificates {
		common.TlsCertificateSdsSecretConfigs = append(common.TlsCertificateSdsSecretConfigs, sdsSecret(cc.Name))
		secrets = append(secrets, certificateSecret(cc))
	}
	return ctx, secrets, nil
}

// systemCASecret is the one Secret every cluster that trusts the system
// CAs shares (Envoy Gateway's name).
const systemCASecret = "system_ca_certificates"

// subjectAltNameMatchers are the exact matchers of the configured names,
// or of the SNI as a DNS name when none is configured.
func subjectAltNameMatchers(t *ir.TLSUpstreamConfig) ([]*tlsv3.SubjectAltNameMatcher, error) {
	exact := func(typ tlsv3.SubjectAltNameMatcher_SanType, v string) *tlsv3.SubjectAltNameMatcher {
		return &tlsv3.SubjectAltNameMatcher{SanType: typ,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}}
	}
	if len(t.SubjectAltNames) == 0 {
		if t.SNI == nil {
			return nil, nil
		}
		return []*tlsv3.SubjectAltNameMatcher{exact(tlsv3.SubjectAltNameMatcher_DNS, *t.SNI)}, nil
	}
	var out []*tlsv3.SubjectAltNameMatcher
	for _, san := range t.SubjectAltNames {
		switch {
		case san.Hostname != nil && san.URI == nil:
			out = append(out, exact(tlsv3.SubjectAltNameMatcher_DNS, *san.Hostname))
		case san.URI != nil && san.Hostname == nil:
			out = append(out, exact(tlsv3.SubjectAltNameMatcher_URI, *san.URI))
		default:
			return nil, fmt.Errorf("subject alt name must set exactly one of hostname and uri")
		}
	}
	return out, nil
}
