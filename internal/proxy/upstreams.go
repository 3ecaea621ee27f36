package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
)

// upstreams implements filters.Upstreams over one runtime's clusters.
type upstreams map[string]*clusterRT

func (u upstreams) pick(cluster string) (*clusterRT, *host, error) {
	c, ok := u[cluster]
	if !ok {
		return nil, nil, fmt.Errorf("cluster %q not found", cluster)
	}
	h := c.pick()
	if h == nil {
		return nil, nil, fmt.Errorf("cluster %q: %s", cluster, bodyNoHealthy)
	}
	return c, h, nil
}

func (u upstreams) RoundTrip(cluster string, req *http.Request) (*http.Response, error) {
	c, h, err := u.pick(cluster)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.URL = cloneURL(req.URL, h, h.tls != nil)
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	h.active.Add(1)
	defer h.active.Add(-1)
	return h.transport(c.cfg.proto == protoH2).RoundTrip(out)
}

func (u upstreams) Dial(ctx context.Context, cluster string) (net.Conn, error) {
	c, h, err := u.pick(cluster)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: c.cfg.connectTimeout}
	return d.DialContext(ctx, h.network, h.addr)
}
