package cluster_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/tlsconf"
	"github.com/portico-gw/portico/internal/proxy/tlsconf/tlstest"
)

// namedBackend serves its name in the X-Backend header, over TLS with a
// certificate for names when ca is set (recording the SNI each handshake
// asked for), else in plaintext.
func namedBackend(t *testing.T, ca *tlstest.CA, name string, names ...string) (string, func() []string) {
	var mu sync.Mutex
	var snis []string
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Proto", r.Proto)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if ca == nil {
		go srv.Serve(ln)
		return ln.Addr().String(), nil
	}
	chain, key := ca.Leaf(t, names...)
	kp, err := tls.X509KeyPair([]byte(chain), []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{kp}, GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		snis = append(snis, hi.ServerName)
		mu.Unlock()
		return nil, nil
	}}
	go srv.ServeTLS(ln, "", "")
	return ln.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(snis) }
}

var adsSource = &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}

// upstreamTLSSocket is Envoy Gateway's BackendTLSPolicy socket: the SNI,
// the CA over SDS and the SAN inline (combined validation context).
func upstreamTLSSocket(t *testing.T, sni, caSecret, san string) *corev3.TransportSocket {
	a, err := anypb.New(&tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: &tlsv3.CommonTlsContext{
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_DNS,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}}}}},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: caSecret, SdsConfig: adsSource},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
}

func matchMetadata(fields map[string]*structpb.Value) *corev3.Metadata {
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.transport_socket_match": {Fields: fields}}}
}

func named(name string) map[string]*structpb.Value {
	return map[string]*structpb.Value{"name": structpb.NewStringValue(name)}
}

func endpoint(t *testing.T, addr string, md *corev3.Metadata) *endpointv3.LbEndpoint {
	host, port, _ := net.SplitHostPort(addr)
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return &endpointv3.LbEndpoint{Metadata: md, HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)}}}}}}}
}

// matchedCluster is an EDS cluster whose one transport socket match,
// "<name>/tls/0", is the TLS of the endpoints marked with its name.
func matchedCluster(t *testing.T, name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource},
		TransportSocketMatches: []*clusterv3.Cluster_TransportSocketMatch{{
			Name:            name + "/tls/0",
			Match:           &structpb.Struct{Fields: named(name + "/tls/0")},
			TransportSocket: upstreamTLSSocket(t, "grpc-ext-proc.envoygateway", "btls/default-ca", "grpc-ext-proc.envoygateway"),
		}}}
}

// Envoy Gateway's layout for a BackendTLSPolicy: one transport socket match
// per backend with TLS, selected by endpoint metadata (the endpoint's, or
// its locality's); other endpoints of the same cluster stay plaintext.
// The host verifies the CA (an SDS secret the cluster asks for) and the
// SAN, and sends the SNI; a backend whose certificate does not match
// fails its handshake, which the router answers 503.
func TestTransportSocketMatches(t *testing.T) {
	ca, other := tlstest.NewCA(t), tlstest.NewCA(t)
	good, goodSNI := namedBackend(t, ca, "tls-good", "grpc-ext-proc.envoygateway")
	wrongSAN, _ := namedBackend(t, ca, "tls-wrong-san", "someone.else")
	wrongCA, _ := namedBackend(t, other, "tls-wrong-ca", "grpc-ext-proc.envoygateway")
	plain, _ := namedBackend(t, nil, "plain")
	caSecret, err := tlsconf.CompileSecret(&tlsv3.Secret{Name: "btls/default-ca", Type: &tlsv3.Secret_ValidationContext{
		ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: ca.PEM}}}}})
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]*tlsconf.Secret{"btls/default-ca": caSecret}

	tlsEndpoint := func(name, addr string) []*endpointv3.LocalityLbEndpoints {
		return []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{endpoint(t, addr, matchMetadata(named(name+"/tls/0")))}}}
	}
	localities := map[string][]*endpointv3.LocalityLbEndpoints{
		"good":      tlsEndpoint("good", good),
		"wrong-san": tlsEndpoint("wrong-san", wrongSAN),
		"wrong-ca":  tlsEndpoint("wrong-ca", wrongCA),
		// One plaintext endpoint, one marked through its locality.
		"mixed": {
			{LbEndpoints: []*endpointv3.LbEndpoint{endpoint(t, plain, nil)}},
			{Metadata: matchMetadata(named("mixed/tls/0")), LbEndpoints: []*endpointv3.LbEndpoint{endpoint(t, good, nil)}},
		},
	}
	pool := cluster.NewPool(nil)
	set := cluster.Set{}
	for name, ls := range localities {
		cfg, _, err := cluster.Compile(matchedCluster(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.SDSNames(); !slices.Equal(got, []string{"btls/default-ca"}) {
			t.Fatalf("%s: SDS names %v: the match's CA must be subscribed", name, got)
		}
		if _, err := cfg.WithSecrets(nil); err == nil || !strings.Contains(err.Error(), `transport socket match "`+name+`/tls/0"`) {
			t.Fatalf("%s without its CA: %v", name, err)
		}
		resolved, err := cfg.WithSecrets(secrets)
		if err != nil {
			t.Fatal(err)
		}
		eps, err := cluster.CompileEndpoints(&endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: ls}, false)
		if err != nil {
			t.Fatal(err)
		}
		set[name] = cluster.New(resolved, eps, pool)
	}
	call := func(name string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://x/", nil)
		resp, err := set.RoundTrip(name, req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := call("good")
	if err != nil || resp.Header.Get("X-Backend") != "tls-good" || resp.Header.Get("X-Proto") != "HTTP/1.1" {
		t.Fatalf("good: %v %v", err, resp)
	}
	if s := goodSNI(); len(s) == 0 || s[0] != "grpc-ext-proc.envoygateway" {
		t.Fatalf("SNI sent: %v", s)
	}
	for _, name := range []string{"wrong-san", "wrong-ca"} {
		if _, err := call(name); err == nil {
			t.Errorf("%s: the handshake must fail", name)
		}
	}
	seen := map[string]bool{}
	for range 8 {
		resp, err := call("mixed")
		if err != nil {
			t.Fatalf("mixed: %v", err)
		}
		seen[resp.Header.Get("X-Backend")] = true
	}
	if !seen["plain"] || !seen["tls-good"] {
		t.Fatalf("mixed cluster reached %v: each endpoint must use its own transport socket", seen)
	}
	// Dial, for filters that speak their own protocol, uses the host's TLS.
	conn, err := set.Dial(context.Background(), "good")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := conn.(*tls.Conn); !ok {
		t.Errorf("Dial to a TLS endpoint: %T", conn)
	}
	conn.Close()
}

// What the proxy cannot honour is refused with a reason (a NACK): a match,
// or an endpoint's match metadata, on a non-string value.
func TestTransportSocketMatchRefusals(t *testing.T) {
	c := matchedCluster(t, "c")
	c.TransportSocketMatches[0].Name = "m"
	c.TransportSocketMatches[0].Match = &structpb.Struct{Fields: map[string]*structpb.Value{"weight": structpb.NewNumberValue(3)}}
	_, _, err := cluster.Compile(c)
	if want := `cluster c: transport_socket_matches[0] "m": match: field "weight": only string values are supported`; err == nil || err.Error() != want {
		t.Errorf("non-string match: %v, want %s", err, want)
	}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{
		endpoint(t, "127.0.0.1:1", matchMetadata(map[string]*structpb.Value{"name": structpb.NewBoolValue(true)}))}}}}
	_, err = cluster.CompileEndpoints(cla, false)
	if want := `endpoint 127.0.0.1:1: metadata envoy.transport_socket_match: field "name": only string values are supported`; err == nil || err.Error() != want {
		t.Errorf("non-string endpoint metadata: %v, want %s", err, want)
	}
}
