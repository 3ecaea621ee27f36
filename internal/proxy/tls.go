package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/portico-gw/portico/internal/proxy/match"
)

const (
	tlsSocketType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	rawSocketType = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
)

// upstreamTLS turns a cluster transport_socket into a client tls.Config.
// nil, nil means plaintext. Envoy verifies the chain only when a validation
// context is given, and checks SANs only when matchers are given (never the
// SNI), so we verify by hand instead of using Go's hostname check.
func upstreamTLS(ts *corev3.TransportSocket) (*tls.Config, []string, error) {
	if ts == nil {
		return nil, nil, nil
	}
	switch ts.GetTypedConfig().GetTypeUrl() {
	case rawSocketType:
		return nil, nil, nil
	case tlsSocketType:
	default:
		return nil, nil, fmt.Errorf("transport_socket %q (%s) is not supported", ts.GetName(), ts.GetTypedConfig().GetTypeUrl())
	}
	var u tlsv3.UpstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&u); err != nil {
		return nil, nil, fmt.Errorf("transport_socket: %v", err)
	}
	if err := checkFields("UpstreamTlsContext", &u, "common_tls_context", "sni", "max_session_keys"); err != nil {
		return nil, nil, err
	}
	c := u.GetCommonTlsContext()
	if err := checkFields("CommonTlsContext", c, "tls_params", "tls_certificates", "validation_context", "alpn_protocols"); err != nil {
		return nil, nil, fmt.Errorf("%v (SDS secrets are not supported yet)", err)
	}
	cfg := &tls.Config{ServerName: u.GetSni(), InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	switch c.GetTlsParams().GetTlsMinimumProtocolVersion() {
	case tlsv3.TlsParameters_TLSv1_3:
		cfg.MinVersion = tls.VersionTLS13
	}
	if c.GetTlsParams().GetTlsMaximumProtocolVersion() == tlsv3.TlsParameters_TLSv1_2 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	for _, tc := range c.GetTlsCertificates() {
		chain, err := readDataSource(tc.GetCertificateChain())
		if err != nil {
			return nil, nil, err
		}
		key, err := readDataSource(tc.GetPrivateKey())
		if err != nil {
			return nil, nil, err
		}
		pair, err := tls.X509KeyPair([]byte(chain), []byte(key))
		if err != nil {
			return nil, nil, fmt.Errorf("client certificate: %v", err)
		}
		cfg.Certificates = append(cfg.Certificates, pair)
	}
	if vc := c.GetValidationContext(); vc != nil {
		if err := checkFields("CertificateValidationContext", vc, "trusted_ca", "match_typed_subject_alt_names", "match_subject_alt_names"); err != nil {
			return nil, nil, err
		}
		var roots *x509.CertPool
		if vc.GetTrustedCa() != nil {
			pem, err := readDataSource(vc.GetTrustedCa())
			if err != nil {
				return nil, nil, err
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM([]byte(pem)) {
				return nil, nil, fmt.Errorf("trusted_ca: no certificates found")
			}
		}
		var sans []match.String
		for _, m := range vc.GetMatchTypedSubjectAltNames() {
			fn, err := match.CompileString(m.GetMatcher())
			if err != nil {
				return nil, nil, err
			}
			sans = append(sans, fn)
		}
		for _, m := range vc.GetMatchSubjectAltNames() {
			fn, err := match.CompileString(m)
			if err != nil {
				return nil, nil, err
			}
			sans = append(sans, fn)
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("no peer certificate")
			}
			leaf := cs.PeerCertificates[0]
			if roots != nil {
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
					return err
				}
			}
			if len(sans) == 0 {
				return nil
			}
			names := append([]string{}, leaf.DNSNames...)
			names = append(names, leaf.EmailAddresses...)
			for _, ip := range leaf.IPAddresses {
				names = append(names, ip.String())
			}
			for _, u := range leaf.URIs {
				names = append(names, u.String())
			}
			for _, n := range names {
				for _, m := range sans {
					if m(n) {
						return nil
					}
				}
			}
			return fmt.Errorf("no subject alternative name matched")
		}
	}
	return cfg, c.GetAlpnProtocols(), nil
}
