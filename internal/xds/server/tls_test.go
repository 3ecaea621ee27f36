package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/portico-gw/portico/internal/certs"
)

// secretSnapshot is a fleet snapshot holding a private key.
func secretSnapshot() map[resourcev3.Type][]types.Resource {
	res := clusters("c")
	res[resourcev3.SecretType] = []types.Resource{&tlsv3.Secret{Name: "default/cert", Type: &tlsv3.Secret_TlsCertificate{
		TlsCertificate: &tlsv3.TlsCertificate{PrivateKey: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "PRIVATE KEY"}}},
	}}}
	return res
}

func startTLSServer(t *testing.T, cfg *tls.Config) (*Server, string) {
	t.Helper()
	s := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := s.SetSnapshot(context.Background(), fleet, secretSnapshot()); err != nil {
		t.Fatal(err)
	}
	return s, serve(t, s, cfg)
}

// fetchSecrets opens a delta and a SotW ADS stream for the fleet's
// Secrets and returns how many Secrets came back, or the first error.
func fetchSecrets(addr string, creds credentials.TransportCredentials) (int, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	node := &corev3.Node{Id: "test", Cluster: fleet}
	delta, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		return 0, err
	}
	if err := delta.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.SecretType,
		ResourceNamesSubscribe: []string{"default/cert"}}); err != nil {
		return 0, err
	}
	dr, err := delta.Recv()
	if err != nil {
		return 0, err
	}
	sotw, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return 0, err
	}
	if err := sotw.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.SecretType, ResourceNames: []string{"default/cert"}}); err != nil {
		return 0, err
	}
	sr, err := sotw.Recv()
	if err != nil {
		return 0, err
	}
	return len(dr.GetResources()) + len(sr.GetResources()), nil
}

// TestXDSRequiresClientCertificates is issue 12 item 1: any local process
// could open an ADS stream and read every Secret. Only a client holding the
// proxy bundle gets a stream; a plaintext client, a client without a
// certificate and one whose certificate another CA signed get nothing, and
// the server never even opens a stream for them.
func TestXDSRequiresClientCertificates(t *testing.T) {
	root, stranger := t.TempDir(), t.TempDir()
	for _, r := range []string{root, stranger} {
		if _, err := certs.Ensure(r, certs.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	source := func(root, name string) *certs.Source {
		s, err := certs.NewSource(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s, addr := startTLSServer(t, certs.ServerConfig(source(root, certs.ControlPlane)))

	serverCA, _ := source(root, certs.ControlPlane).Get()
	strangerPair, _ := source(stranger, certs.Proxy).Get()
	for name, creds := range map[string]credentials.TransportCredentials{
		"plaintext":      insecure.NewCredentials(),
		"no certificate": credentials.NewTLS(&tls.Config{RootCAs: serverCA.Roots, ServerName: certs.ControlPlane}),
		"another CA's certificate": credentials.NewTLS(&tls.Config{RootCAs: serverCA.Roots, ServerName: certs.ControlPlane,
			Certificates: []tls.Certificate{strangerPair.Pair}}),
	} {
		n, err := fetchSecrets(addr, creds)
		if err == nil || n > 0 {
			t.Errorf("%s: got %d secrets (err %v); want a refused connection", name, n, err)
		}
	}
	if ps := s.Proxies(); len(ps) != 0 {
		t.Errorf("the server opened streams for refused clients: %+v", ps)
	}

	good := credentials.NewTLS(certs.ClientConfig(source(root, certs.Proxy), certs.ControlPlane))
	if n, err := fetchSecrets(addr, good); err != nil || n != 2 {
		t.Fatalf("proxy bundle: got %d secrets, %v; want the secret on both streams", n, err)
	}
}
