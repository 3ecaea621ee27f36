package proxy_test

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// tlsBackend serves echoHandler(name) over TLS with a certificate for
// names, and records the SNI each handshake asked for.
func tlsBackend(t *testing.T, ca *testCA, name string, names ...string) (string, func() []string) {
	chain, key := ca.leaf(t, names...)
	kp, _ := tls.X509KeyPair([]byte(chain), []byte(key))
	var mu sync.Mutex
	var snis []string
	srv := &http.Server{Handler: echoHandler(name), ErrorLog: log.New(io.Discard, "", 0), TLSConfig: &tls.Config{Certificates: []tls.Certificate{kp},
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			snis = append(snis, hi.ServerName)
			mu.Unlock()
			return nil, nil
		}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), snis...) }
}

func upstreamTLSSocket(name, sni, caSecret string, san string) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: name, ConfigType: &corev3.TransportSocket_TypedConfig{
		TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: &tlsv3.CommonTlsContext{
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: strMatch(san)}}},
				ValidationContextSdsSecretConfig: sds(caSecret)}}}})}}
}

func matchMetadata(name string) *corev3.Metadata {
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"envoy.transport_socket_match": {Fields: map[string]*structpb.Value{"name": structpb.NewStringValue(name)}}}}
}

// Envoy Gateway's layout for a BackendTLSPolicy: one transport socket match
// per backend with TLS, selected by endpoint metadata; other endpoints of
// the same cluster stay plaintext. The proxy verifies the CA and the SAN
// and sends the SNI; a backend whose certificate does not match fails.
func TestTransportSocketMatches(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ca, other := newCA(t), newCA(t)
	good, goodSNI := tlsBackend(t, ca, "tls-good", "grpc-ext-proc.envoygateway")
	wrongSAN, _ := tlsBackend(t, ca, "tls-wrong-san", "someone.else")
	wrongCA, _ := tlsBackend(t, other, "tls-wrong-ca", "grpc-ext-proc.envoygateway")
	plain := backend(t, "plain")

	caSecret := &tlsv3.Secret{Name: "btls/default-ca", Type: &tlsv3.Secret_ValidationContext{
		ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: inline(ca.pem)}}}
	cluster := func(name string) *clusterv3.Cluster {
		return edsCluster(name, func(c *clusterv3.Cluster) {
			c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{{
				Name:            name + "/tls/0",
				Match:           &structpb.Struct{Fields: map[string]*structpb.Value{"name": structpb.NewStringValue(name + "/tls/0")}},
				TransportSocket: upstreamTLSSocket("envoy.transport_sockets.tls", "grpc-ext-proc.envoygateway", "btls/default-ca", "grpc-ext-proc.envoygateway"),
			}}
		})
	}
	tlsCLA := func(name, addr string) *endpointv3.ClusterLoadAssignment {
		c := cla(name, addr)
		c.Endpoints[0].LbEndpoints[0].Metadata = matchMetadata(name + "/tls/0")
		return c
	}
	mixed := cla("mixed", plain)
	mixed.Endpoints[0].LbEndpoints = append(mixed.Endpoints[0].LbEndpoints, tlsCLA("mixed", good).Endpoints[0].LbEndpoints[0])
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*routev3.Route{
		{Match: prefix("/good"), Action: routeTo("good")},
		{Match: prefix("/wrong-san"), Action: routeTo("wrong-san")},
		{Match: prefix("/wrong-ca"), Action: routeTo("wrong-ca")},
		{Match: prefix("/mixed"), Action: routeTo("mixed")},
	}}}}
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {listener("l", port, "rc", nil)},
		resourcev3.RouteType:    {rc},
		resourcev3.ClusterType:  {cluster("good"), cluster("wrong-san"), cluster("wrong-ca"), cluster("mixed")},
		resourcev3.EndpointType: {tlsCLA("good", good), tlsCLA("wrong-san", wrongSAN), tlsCLA("wrong-ca", wrongCA), mixed},
		resourcev3.SecretType:   {caSecret},
	})
	if r := get(t, port, "x", "/good"); r.code != 200 || r.echo.Backend != "tls-good" || r.echo.Proto != "HTTP/1.1" {
		t.Fatalf("good: %d %+v", r.code, r.echo)
	}
	if s := goodSNI(); len(s) == 0 || s[0] != "grpc-ext-proc.envoygateway" {
		t.Fatalf("SNI sent: %v", s)
	}
	for _, path := range []string{"/wrong-san", "/wrong-ca"} {
		if r := get(t, port, "x", path); r.code != http.StatusServiceUnavailable {
			t.Errorf("%s: %d, want 503 (the handshake must fail)", path, r.code)
		}
	}
	seen := map[string]bool{}
	for range 8 {
		r := get(t, port, "x", "/mixed")
		if r.code != 200 {
			t.Fatalf("mixed: %d %s", r.code, r.body)
		}
		seen[r.echo.Backend] = true
	}
	if !seen["plain"] || !seen["tls-good"] {
		t.Fatalf("mixed cluster reached %v: each endpoint must use its own transport socket", seen)
	}
}

// What the proxy cannot honour is NACKed with a reason: a match on a
// non-string value, and the newer transport_socket_matcher.
func TestTransportSocketMatchNACK(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	c := edsCluster("c", func(c *clusterv3.Cluster) {
		c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{{
			Name:  "m",
			Match: &structpb.Struct{Fields: map[string]*structpb.Value{"weight": structpb.NewNumberValue(3)}},
		}}
	})
	res := map[string][]types.Resource{
		resourcev3.ListenerType: {listener("l", port, "rc", nil)},
		resourcev3.RouteType:    {simpleRoutes("c")},
		resourcev3.ClusterType:  {c},
		resourcev3.EndpointType: {cla("c", "127.0.0.1:1")},
	}
	h.push(t, res)
	waitNACK(t, h, `transport_socket_matches[0] "m": match: field "weight": only string values are supported`)
}
