package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
)

// Set is the clusters of one runtime by name. It is the filters.Upstreams
// through which a request's filters call clusters: each call picks a host
// with the cluster's balancer and goes over that host's connection pool,
// with the cluster's protocol and TLS, unix sockets included.
type Set map[string]*Cluster

func (u Set) lookup(cluster string) (*Cluster, *Host, error) {
	c, ok := u[cluster]
	if !ok {
		return nil, nil, fmt.Errorf("cluster %q not found", cluster)
	}
	h := c.Pick()
	if h == nil {
		return nil, nil, fmt.Errorf("cluster %q: no healthy upstream", cluster)
	}
	return c, h, nil
}

// RoundTrip sends req to a host of the cluster; req.URL's scheme and host
// are the host's. It goes over HTTP/2 when the cluster speaks it, or when
// the cluster uses the downstream's protocol and req.ProtoMajor is 2 (a
// gRPC call: see filters.GRPCCall).
func (u Set) RoundTrip(cluster string, req *http.Request) (*http.Response, error) {
	c, h, err := u.lookup(cluster)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.URL = h.URL(req.URL)
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	h.RequestStarted()
	defer h.RequestDone()
	return h.Transport(c.UsesH2(req.ProtoMajor)).RoundTrip(out)
}

// Dial connects to a host of the cluster. When the host uses TLS (the
// cluster's transport socket, or the match its metadata selects) the
// connection is the TLS client's, handshake done, with that socket's
// certificates, SNI, ALPN and verification.
func (u Set) Dial(ctx context.Context, cluster string) (net.Conn, error) {
	_, h, err := u.lookup(cluster)
	if err != nil {
		return nil, err
	}
	return h.dial(ctx)
}
