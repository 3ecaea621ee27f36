package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newCA(t testing.TB) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// leaf issues a server certificate; returns PEM chain and key.
func (ca *testCA) leaf(t testing.TB, names ...string) (string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

func inline(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
}

func certSecret(name, chain, key string) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inline(chain), PrivateKey: inline(key)}}}
}

func sds(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: ads}
}

// Envoy Gateway's HTTPS shape: one filter chain per hostname with
// server_names and a DownstreamTlsContext whose certificate comes over SDS;
// upstream TLS with the CA over SDS and SANs inline (combined validation).
func TestHTTPSListenerAndSDS(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ca := newCA(t)
	aChain, aKey := ca.leaf(t, "a.test")
	wChain, wKey := ca.leaf(t, "*.wild.test")
	bChain, bKey := ca.leaf(t, "backend.internal")
	bc, _ := tls.X509KeyPair([]byte(bChain), []byte(bKey))
	tlsBackend := &http.Server{Handler: echoHandler("tls-backend"), TLSConfig: &tls.Config{Certificates: []tls.Certificate{bc}}}
	bl, _ := net.Listen("tcp", "127.0.0.1:0")
	go tlsBackend.ServeTLS(bl, "", "")
	t.Cleanup(func() { tlsBackend.Close() })

	chain := func(name, rds, secretName string, names ...string) *listenerv3.FilterChain {
		l := listener("tmp", port, rds, nil)
		fc := l.DefaultFilterChain
		fc.Name = name
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
		fc.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
			TypedConfig: mustAny(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds(secretName)},
				AlpnProtocols:                  []string{"h2", "http/1.1"}}})}}
		return fc
	}
	l := listener("default/eg/https", port, "x", nil)
	l.DefaultFilterChain = nil
	l.FilterChains = []*listenerv3.FilterChain{chain("a", "rc-a", "default/a-cert", "a.test"), chain("wild", "rc-w", "default/w-cert", "*.wild.test")}
	rcA, rcW := simpleRoutes("up"), simpleRoutes("up")
	rcA.Name, rcW.Name = "rc-a", "rc-w"
	rcW.VirtualHosts[0].Routes[0].Action = directBody("wild")
	up := edsCluster("up", func(c *clusterv3.Cluster) {
		c.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
			TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{Sni: "backend.internal", CommonTlsContext: &tlsv3.CommonTlsContext{
				ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: strMatch("backend.internal")}}},
					ValidationContextSdsSecretConfig: sds("default/ca")}}}})}}
	})
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {l},
		resourcev3.RouteType:    {rcA, rcW},
		resourcev3.ClusterType:  {up},
		resourcev3.EndpointType: {cla("up", bl.Addr().String())},
		resourcev3.SecretType: {certSecret("default/a-cert", aChain, aKey), certSecret("default/w-cert", wChain, wKey),
			&tlsv3.Secret{Name: "default/ca", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: inline(ca.pem)}}}},
	})

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	do := func(sni string, h2 bool) (*http.Response, string) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: sni}, ForceAttemptHTTP2: h2}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := c.Get("https://127.0.0.1:" + itoa(port) + "/")
		if err != nil {
			t.Fatalf("%s: %v", sni, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do("a.test", true)
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !contains(body, `"backend":"tls-backend"`) {
		t.Errorf("a.test: %s %d %s", resp.Proto, resp.StatusCode, body)
	}
	if resp, body := do("x.wild.test", false); resp.StatusCode != 200 || body != "wild" {
		t.Errorf("x.wild.test: %d %q", resp.StatusCode, body)
	}
	// No chain for this name: the handshake fails, as with Envoy.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "nope.test"}}
	if _, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://127.0.0.1:" + itoa(port) + "/"); err == nil {
		t.Error("unknown SNI must not be served")
	}
}
