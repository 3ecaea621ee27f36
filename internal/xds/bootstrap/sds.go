package bootstrap

import (
	"path/filepath"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// SDS file names and secret names of the xDS client's TLS, as Envoy
// Gateway mounts them (/sds/xds-certificate.json, /sds/xds-trusted-ca.json).
const (
	SDSCertificateFile = "xds-certificate.json"
	SDSTrustedCAFile   = "xds-trusted-ca.json"
	sdsCertificateName = "xds_certificate"
	sdsTrustedCAName   = "xds_trusted_ca"
)

// SDSFiles are the contents of the two SDS files an Envoy reads its xDS
// client certificate and trusted CA from: DiscoveryResponses holding one
// Secret each, pointing at ca.crt, tls.crt and tls.key in certDir (Envoy
// Gateway's /certs) and requiring the server certificate to name
// serverName ("envoy-gateway"). Envoy watches the files it names, so a
// rotation of certDir is picked up without a restart.
type SDSFiles struct {
	Certificate, TrustedCA []byte
}

// BuildSDSFiles renders the SDS files for certDir.
func BuildSDSFiles(certDir, serverName string) (SDSFiles, error) {
	file := func(name string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: filepath.Join(certDir, name)}}
	}
	cert := &tlsv3.Secret{Name: sdsCertificateName, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: file("tls.crt"),
		PrivateKey:       file("tls.key"),
	}}}
	ca := &tlsv3.Secret{Name: sdsTrustedCAName, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: file("ca.crt"),
		MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_DNS,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: serverName}},
		}},
	}}}
	var out SDSFiles
	for _, f := range []struct {
		secret *tlsv3.Secret
		dst    *[]byte
	}{{cert, &out.Certificate}, {ca, &out.TrustedCA}} {
		a, err := anypb.New(f.secret)
		if err != nil {
			return SDSFiles{}, err
		}
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(&discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{a}})
		if err != nil {
			return SDSFiles{}, err
		}
		*f.dst = b
	}
	return out, nil
}
