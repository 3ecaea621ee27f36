package cluster_test

import (
	"context"
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
	"path/filepath"
	"strconv"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/filters"
)

// grpcServer serves the health (unary) and reflection (bidirectional)
// services on ln until the test ends.
func grpcServer(t *testing.T, ln net.Listener, opts ...grpc.ServerOption) {
	s := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus("authz", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
}

// set compiles one cluster (HTTP/2, as Envoy Gateway configures gRPC
// services) with the endpoint address and transport socket given.
func set(t *testing.T, addr *corev3.Address, ts *corev3.TransportSocket) cluster.Set {
	t.Helper()
	c := &clusterv3.Cluster{Name: "svc", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}, TransportSocket: ts,
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "svc", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
				Endpoint: &endpointv3.Endpoint{Address: addr}}}}}}}}
	cfg, _, err := cluster.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	pool := cluster.NewPool(nil)
	return cluster.Set{"svc": cluster.New(cfg, cfg.StaticEndpoints(), pool)}
}

// selfSigned makes a certificate for 127.0.0.1 and its PEM.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "authz"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"authz"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	return pair, string(certPEM)
}

// A filter calls a gRPC service through a cluster, unary and
// bidirectional, over a unix socket and over TLS with the cluster's
// trusted CA: what ext_authz and ext_proc need from the proxy.
func TestFiltersCallGRPCThroughClusters(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "authz.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	grpcServer(t, uln)
	pair, caPEM := selfSigned(t)
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcServer(t, tln, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}})))
	upTLS, err := anypb.New(&tlsv3.UpstreamTlsContext{Sni: "authz", CommonTlsContext: &tlsv3.CommonTlsContext{
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: caPEM}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	port := tln.Addr().(*net.TCPAddr).Port
	cases := map[string]cluster.Set{
		"unix socket": set(t, &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: sock}}}, nil),
		"tls": set(t, &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}}}},
			&corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: upTLS}}),
	}
	// Dial gives a TLS cluster's connection with its TLS: verified, h2.
	conn, err := cases["tls"].Dial(context.Background(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := conn.(*tls.Conn); !ok || tc.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("Dial on a TLS cluster: %T", conn)
	}
	conn.Close()
	for name, ups := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var out healthpb.HealthCheckResponse
			if err := filters.GRPCCall(ctx, ups, "svc", "authz", "/grpc.health.v1.Health/Check", nil, 5*time.Second,
				&healthpb.HealthCheckRequest{Service: "authz"}, &out); err != nil || out.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("unary call: %v, %v", err, out.GetStatus())
			}
			err := filters.GRPCCall(ctx, ups, "svc", "authz", "/grpc.health.v1.Health/Check", nil, 5*time.Second,
				&healthpb.HealthCheckRequest{Service: "unknown"}, &out)
			if status.Code(err) != codes.NotFound {
				t.Fatalf("a call the server refuses: %v", err)
			}
			if err := filters.GRPCCall(ctx, ups, "nope", "authz", "/x/y", nil, 0, &out, &out); status.Code(err) != codes.Unavailable {
				t.Fatalf("a call to an unknown cluster: %v, want Unavailable", err)
			}
			st := filters.OpenGRPCStream(ctx, ups, "svc", "authz", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", nil)
			defer st.Close()
			for i := range 3 { // request, answer, request, answer...
				req := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: strconv.Itoa(i)}}
				if err := st.Send(req); err != nil {
					t.Fatal(err)
				}
				var resp reflectionpb.ServerReflectionResponse
				if err := st.Recv(&resp); err != nil || len(resp.GetListServicesResponse().GetService()) != 3 {
					t.Fatalf("message %d: %v, %v", i, err, resp.GetListServicesResponse())
				}
			}
			st.CloseSend()
			var resp reflectionpb.ServerReflectionResponse
			if err := st.Recv(&resp); err != io.EOF {
				t.Fatalf("after the half-close: %v, want the end of the stream", err)
			}
		})
	}
}
