// Package tlsconf compiles the TLS of the built-in proxy: SDS secrets
// (certificates and validation contexts) and the Upstream/Downstream TLS
// contexts of clusters and filter chains, which become tls.Configs once
// the secrets they name have arrived. Verification is Envoy's: against the
// trusted CA and SAN matchers, never against the SNI.
package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/proxy/match"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

const (
	upTLSType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	downTLSType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	rawSocket   = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
)

// Secret is a compiled SDS Secret (or the inline equivalent).
type Secret struct {
	cert    *tls.Certificate
	roots   *x509.CertPool
	sans    []match.String
	version string // content hash, so connection pools follow rotations
}

// CompileSecret compiles an SDS Secret.
func CompileSecret(s *tlsv3.Secret) (*Secret, error) {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(s)
	sum := sha256.Sum256(b)
	out := &Secret{version: hex.EncodeToString(sum[:8])}
	switch x := s.GetType().(type) {
	case *tlsv3.Secret_TlsCertificate:
		c, err := compileCert(x.TlsCertificate)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %v", s.GetName(), err)
		}
		out.cert = c
	case *tlsv3.Secret_ValidationContext:
		v, err := compileValidation(x.ValidationContext)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %v", s.GetName(), err)
		}
		out.roots, out.sans = v.roots, v.sans
	default:
		return nil, fmt.Errorf("secret %s: type %T is not supported", s.GetName(), x)
	}
	return out, nil
}

func compileCert(tc *tlsv3.TlsCertificate) (*tls.Certificate, error) {
	if err := xdsconf.CheckFields("tls_certificate", tc, "certificate_chain", "private_key"); err != nil {
		return nil, err
	}
	chain, err := xdsconf.ReadDataSource(tc.GetCertificateChain())
	if err != nil {
		return nil, err
	}
	key, err := xdsconf.ReadDataSource(tc.GetPrivateKey())
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair([]byte(chain), []byte(key))
	if err != nil {
		return nil, fmt.Errorf("certificate: %v", err)
	}
	return &pair, nil
}

func compileValidation(vc *tlsv3.CertificateValidationContext) (*Secret, error) {
	if err := xdsconf.CheckFields("validation_context", vc, "trusted_ca", "match_typed_subject_alt_names", "match_subject_alt_names"); err != nil {
		return nil, err
	}
	v := &Secret{}
	if vc.GetTrustedCa() != nil {
		pem, err := xdsconf.ReadDataSource(vc.GetTrustedCa())
		if err != nil {
			return nil, err
		}
		v.roots = x509.NewCertPool()
		if !v.roots.AppendCertsFromPEM([]byte(pem)) {
			return nil, fmt.Errorf("trusted_ca: no certificates found")
		}
	}
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		fn, err := match.CompileString(m.GetMatcher())
		if err != nil {
			return nil, err
		}
		v.sans = append(v.sans, fn)
	}
	for _, m := range vc.GetMatchSubjectAltNames() {
		fn, err := match.CompileString(m)
		if err != nil {
			return nil, err
		}
		v.sans = append(v.sans, fn)
	}
	return v, nil
}

// Spec is a compiled CommonTlsContext whose certificates and validation
// context may come inline or by SDS name; it becomes a tls.Config once the
// secrets are known.
type Spec struct {
	certs         []*tls.Certificate
	certSDS       []string
	valid         *Secret // inline validation (CA and/or SAN matchers)
	validSDS      string
	sni           string
	ALPN          []string
	minV, maxV    uint16
	requireClient bool
}

func tlsVersion(v tlsv3.TlsParameters_TlsProtocol, def uint16) uint16 {
	switch v {
	case tlsv3.TlsParameters_TLSv1_0:
		return tls.VersionTLS10
	case tlsv3.TlsParameters_TLSv1_1:
		return tls.VersionTLS11
	case tlsv3.TlsParameters_TLSv1_2:
		return tls.VersionTLS12
	case tlsv3.TlsParameters_TLSv1_3:
		return tls.VersionTLS13
	}
	return def
}

func compileCommonTLS(c *tlsv3.CommonTlsContext) (*Spec, []string, error) {
	if err := xdsconf.CheckFields("common_tls_context", c, "tls_params", "tls_certificates", "tls_certificate_sds_secret_configs",
		"validation_context", "validation_context_sds_secret_config", "combined_validation_context", "alpn_protocols"); err != nil {
		return nil, nil, err
	}
	var warnings []string
	sp := &Spec{ALPN: c.GetAlpnProtocols(), minV: tls.VersionTLS12, maxV: tls.VersionTLS13}
	if p := c.GetTlsParams(); p != nil {
		sp.minV = tlsVersion(p.GetTlsMinimumProtocolVersion(), sp.minV)
		sp.maxV = tlsVersion(p.GetTlsMaximumProtocolVersion(), sp.maxV)
		if len(p.GetCipherSuites()) > 0 || len(p.GetEcdhCurves()) > 0 || len(p.GetSignatureAlgorithms()) > 0 {
			warnings = append(warnings, "tls_params cipher_suites/ecdh_curves/signature_algorithms accepted; Go's secure defaults are used")
		}
	}
	for _, tc := range c.GetTlsCertificates() {
		cert, err := compileCert(tc)
		if err != nil {
			return nil, nil, err
		}
		sp.certs = append(sp.certs, cert)
	}
	for _, s := range c.GetTlsCertificateSdsSecretConfigs() {
		if err := checkSDS(s); err != nil {
			return nil, nil, err
		}
		sp.certSDS = append(sp.certSDS, s.GetName())
	}
	var err error
	switch v := c.GetValidationContextType().(type) {
	case nil:
	case *tlsv3.CommonTlsContext_ValidationContext:
		if sp.valid, err = compileValidation(v.ValidationContext); err != nil {
			return nil, nil, err
		}
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		if err := checkSDS(v.ValidationContextSdsSecretConfig); err != nil {
			return nil, nil, err
		}
		sp.validSDS = v.ValidationContextSdsSecretConfig.GetName()
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		cv := v.CombinedValidationContext
		if err := checkSDS(cv.GetValidationContextSdsSecretConfig()); err != nil {
			return nil, nil, err
		}
		sp.validSDS = cv.GetValidationContextSdsSecretConfig().GetName()
		if cv.GetDefaultValidationContext() != nil {
			if sp.valid, err = compileValidation(cv.GetDefaultValidationContext()); err != nil {
				return nil, nil, err
			}
		}
	default:
		return nil, nil, fmt.Errorf("validation context %T is not supported", v)
	}
	return sp, warnings, nil
}

func checkSDS(s *tlsv3.SdsSecretConfig) error {
	if s.GetName() == "" {
		return fmt.Errorf("sds secret config without a name")
	}
	if err := xdsconf.CheckADSSource(s.GetSdsConfig()); err != nil {
		return fmt.Errorf("sds secret %s: %v", s.GetName(), err)
	}
	return nil
}

// SDSNames lists the secrets the spec needs.
func (sp *Spec) SDSNames() []string {
	if sp == nil {
		return nil
	}
	out := append([]string(nil), sp.certSDS...)
	if sp.validSDS != "" {
		out = append(out, sp.validSDS)
	}
	return out
}

// resolve returns certificates, the validation (CA from SDS merged with
// inline SAN matchers) and a version string covering the SDS contents.
func (sp *Spec) resolve(secrets map[string]*Secret) ([]tls.Certificate, *Secret, string, error) {
	var certs []tls.Certificate
	version := ""
	for _, c := range sp.certs {
		certs = append(certs, *c)
	}
	for _, n := range sp.certSDS {
		s, ok := secrets[n]
		if !ok || s.cert == nil {
			return nil, nil, "", fmt.Errorf("tls certificate secret %q is missing", n)
		}
		certs = append(certs, *s.cert)
		version += s.version
	}
	v := sp.valid
	if sp.validSDS != "" {
		s, ok := secrets[sp.validSDS]
		if !ok || s.cert != nil {
			return nil, nil, "", fmt.Errorf("validation context secret %q is missing", sp.validSDS)
		}
		merged := &Secret{roots: s.roots, sans: s.sans}
		if v != nil {
			if v.roots != nil {
				merged.roots = v.roots
			}
			merged.sans = append(append([]match.String(nil), v.sans...), s.sans...)
		}
		v = merged
		version += s.version
	}
	return certs, v, version, nil
}

// verifier checks a peer chain as Envoy does: against the trusted CA when one
// is given, and against SAN matchers when given (never against the SNI).
func verifier(v *Secret, requireCert bool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			if requireCert {
				return fmt.Errorf("no peer certificate")
			}
			return nil
		}
		if v == nil {
			return nil
		}
		leaf := cs.PeerCertificates[0]
		if v.roots != nil {
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return err
			}
		}
		if len(v.sans) == 0 {
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
			for _, m := range v.sans {
				if m(n) {
					return nil
				}
			}
		}
		return fmt.Errorf("no subject alternative name matched")
	}
}

// Upstream compiles a cluster transport_socket; nil spec means plaintext.
func Upstream(ts *corev3.TransportSocket) (*Spec, []string, error) {
	if ts == nil || ts.GetTypedConfig().GetTypeUrl() == rawSocket {
		return nil, nil, nil
	}
	if ts.GetTypedConfig().GetTypeUrl() != upTLSType {
		return nil, nil, fmt.Errorf("transport_socket %q (%s) is not supported", ts.GetName(), ts.GetTypedConfig().GetTypeUrl())
	}
	var u tlsv3.UpstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&u); err != nil {
		return nil, nil, fmt.Errorf("transport_socket: %v", err)
	}
	if err := xdsconf.CheckFields("UpstreamTlsContext", &u, "common_tls_context", "sni", "max_session_keys"); err != nil {
		return nil, nil, err
	}
	sp, warn, err := compileCommonTLS(u.GetCommonTlsContext())
	if err != nil {
		return nil, nil, err
	}
	sp.sni = u.GetSni()
	return sp, warn, nil
}

// ClientConfig builds the upstream tls.Config. Go's hostname check is off
// because Envoy does not check the SNI; verifier does Envoy's checks.
func (sp *Spec) ClientConfig(secrets map[string]*Secret) (*tls.Config, string, error) {
	certs, v, version, err := sp.resolve(secrets)
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{ServerName: sp.sni, InsecureSkipVerify: true, MinVersion: sp.minV, MaxVersion: sp.maxV,
		Certificates: certs, NextProtos: sp.ALPN, VerifyConnection: verifier(v, true)}, version, nil
}

// Downstream compiles a filter chain's transport_socket.
func Downstream(ts *corev3.TransportSocket) (*Spec, []string, error) {
	if ts == nil || ts.GetTypedConfig().GetTypeUrl() == rawSocket {
		return nil, nil, nil
	}
	if ts.GetTypedConfig().GetTypeUrl() != downTLSType {
		return nil, nil, fmt.Errorf("transport_socket %q (%s) is not supported", ts.GetName(), ts.GetTypedConfig().GetTypeUrl())
	}
	var d tlsv3.DownstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&d); err != nil {
		return nil, nil, fmt.Errorf("transport_socket: %v", err)
	}
	if err := xdsconf.CheckFields("DownstreamTlsContext", &d, "common_tls_context", "require_client_certificate",
		"disable_stateful_session_resumption", "disable_stateless_session_resumption", "session_timeout"); err != nil {
		return nil, nil, err
	}
	sp, warn, err := compileCommonTLS(d.GetCommonTlsContext())
	if err != nil {
		return nil, nil, err
	}
	if len(sp.certs)+len(sp.certSDS) == 0 {
		return nil, nil, fmt.Errorf("DownstreamTlsContext: no certificate")
	}
	sp.requireClient = d.GetRequireClientCertificate().GetValue()
	return sp, warn, nil
}

// ServerConfig builds the downstream tls.Config of one filter chain.
func (sp *Spec) ServerConfig(secrets map[string]*Secret) (*tls.Config, error) {
	certs, v, _, err := sp.resolve(secrets)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{Certificates: certs, MinVersion: sp.minV, MaxVersion: sp.maxV, NextProtos: sp.ALPN}
	if v != nil || sp.requireClient {
		c.ClientAuth = tls.RequestClientCert
		if sp.requireClient {
			c.ClientAuth = tls.RequireAnyClientCert
		}
		c.VerifyConnection = verifier(v, sp.requireClient)
	}
	return c, nil
}
