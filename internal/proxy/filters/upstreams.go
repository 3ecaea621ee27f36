package filters

import (
	"context"
	"net"
	"net/http"
)

// Upstreams lets a filter call a cluster with the cluster's own balancing,
// protocol, TLS and connection pools (unix-socket endpoints included).
type Upstreams interface {
	// RoundTrip sends req to a host of the cluster; req.URL's scheme and
	// host are filled in by the proxy (https when the host picked has TLS:
	// the cluster's transport socket, or the match its metadata selects).
	// It goes over HTTP/2 when the cluster speaks it, or when the cluster
	// uses the downstream's protocol and req.ProtoMajor is 2. The request
	// and response bodies may stream both ways at once over HTTP/2 (a
	// bidirectional gRPC stream: OpenGRPCStream).
	RoundTrip(cluster string, req *http.Request) (*http.Response, error)
	// Dial connects to a host of the cluster. To a host with TLS the
	// connection is a TLS client's, handshake done, with its transport
	// socket's certificates, SNI, ALPN and verification.
	Dial(ctx context.Context, cluster string) (net.Conn, error)
}
