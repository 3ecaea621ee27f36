package proxy_test

import (
	"crypto/tls"
	"io"
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

	"github.com/portico-gw/portico/internal/proxy/tlsconf/tlstest"
)

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
	ca := tlstest.NewCA(t)
	aChain, aKey := ca.Leaf(t, "a.test")
	wChain, wKey := ca.Leaf(t, "*.wild.test")
	bChain, bKey := ca.Leaf(t, "backend.internal")
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
			&tlsv3.Secret{Name: "default/ca", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: inline(ca.PEM)}}}},
	})

	roots := ca.Pool()
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
