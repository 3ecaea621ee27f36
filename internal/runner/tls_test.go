package runner

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/portico-gw/portico/internal/certs"
)

func proxyCreds(t *testing.T, r *Runner) credentials.TransportCredentials {
	t.Helper()
	src, err := certs.NewSource(filepath.Join(r.CertsDir(), certs.Proxy))
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewTLS(certs.ClientConfig(src, certs.ControlPlane))
}

// listenersFor opens an ADS stream for fleet and returns the listeners it
// is sent, or the stream's error.
func listenersFor(addr, fleet string, creds credentials.TransportCredentials) (int, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return 0, err
	}
	if err := cli.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "probe", Cluster: fleet}, TypeUrl: resourcev3.ListenerType}); err != nil {
		return 0, err
	}
	resp, err := cli.Recv()
	if err != nil {
		return 0, err
	}
	return len(resp.GetResources()), nil
}

// TestXDSPortNeedsTheProxyCertificate is issue 12 item 1 at the runtime:
// `portico run`'s xDS port served any local process in plaintext. Now it
// speaks mutual TLS with the certificates of its state directory only.
func TestXDSPortNeedsTheProxyCertificate(t *testing.T) {
	e := start(t)
	if n, err := listenersFor(e.r.XDSAddr(), "default/eg", insecure.NewCredentials()); err == nil || n > 0 {
		t.Fatalf("a plaintext client got %d listeners (err %v)", n, err)
	}
	if n, err := listenersFor(e.r.XDSAddr(), "default/eg", proxyCreds(t, e.r)); err != nil || n == 0 {
		t.Fatalf("a client with the proxy certificate got %d listeners: %v", n, err)
	}
}
