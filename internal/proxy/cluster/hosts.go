package cluster

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Host is one upstream endpoint with its connection pools. Hosts are shared
// between runtime versions so that pools and in-flight counts survive config
// updates that keep the endpoint.
type Host struct {
	network, addr string
	hostname      string
	// tls is the client TLS of the transport socket the endpoint uses
	// (nil: plaintext): the cluster's, or the transport socket match its
	// metadata selects.
	tls          *tls.Config
	active       atomic.Int64
	once1, once2 sync.Once
	tr1, tr2     http.RoundTripper
	cfg          *Config
	out          outlierState
}

// Transport returns the pool for the wanted protocol.
func (h *Host) Transport(h2 bool) http.RoundTripper {
	if h2 {
		h.once2.Do(func() { h.tr2 = newTransport(h.cfg, h.tls, h.network, h.addr, true) })
		return h.tr2
	}
	h.once1.Do(func() { h.tr1 = newTransport(h.cfg, h.tls, h.network, h.addr, false) })
	return h.tr1
}

func (h *Host) closeIdle() {
	for _, t := range []http.RoundTripper{h.tr1, h.tr2} {
		if t, ok := t.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
}

// Addr is the host's address (host:port, or a unix socket's path).
func (h *Host) Addr() string { return h.addr }

// Hostname is the endpoint's hostname, for auto_host_rewrite ("" when it
// has none).
func (h *Host) Hostname() string { return h.hostname }

// RequestStarted and RequestDone count the requests in flight to the
// host, which least-request balancing reads.
func (h *Host) RequestStarted() { h.active.Add(1) }

// RequestDone ends what RequestStarted began.
func (h *Host) RequestDone() { h.active.Add(-1) }

// URL is u sent to this host: its scheme says whether the host uses TLS,
// its authority is the host's address ("localhost" for a unix
// socket, whose path the transport dials).
func (h *Host) URL(u *url.URL) *url.URL {
	c := *u
	c.Scheme = "http"
	if h.tls != nil {
		c.Scheme = "https"
	}
	c.Host = h.addr
	if h.network == "unix" {
		c.Host = "localhost"
	}
	return &c
}

// Pool keeps hosts (and their connection pools) across updates, and
// DNS clusters with their resolved hosts.
type Pool struct {
	mu sync.Mutex
	m  map[string]*Host
	// resolver resolves DNS clusters' names (net.DefaultResolver if nil).
	resolver Resolver
	// dns are the DNS clusters by config key; dnsUsed those the runtime
	// being built uses, until retain.
	dns     map[string]*dnsCluster
	dnsUsed map[string]bool
}

// NewPool makes an empty pool whose DNS clusters resolve with r
// (net.DefaultResolver when nil).
func NewPool(r Resolver) *Pool { return &Pool{resolver: r} }

// dnsFor returns the DNS cluster of cfg, created (and resolving) the first
// time the config is seen.
func (p *Pool) dnsFor(cfg *Config) *dnsCluster {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dns == nil {
		p.dns, p.dnsUsed = map[string]*dnsCluster{}, map[string]bool{}
	}
	p.dnsUsed[cfg.key] = true
	if d, ok := p.dns[cfg.key]; ok {
		return d
	}
	r := p.resolver
	if r == nil {
		r = net.DefaultResolver
	}
	d := newDNSCluster(cfg, r, time.Now)
	p.dns[cfg.key] = d
	d.refresh() // as Envoy does when a cluster is added
	return d
}

// get is the host of an endpoint; socket is the transport socket it uses
// (Config.socketFor).
func (p *Pool) get(cfg *Config, network, addr, hostname string, socket int) *Host {
	k := cfg.key + "|" + network + "|" + addr + "|" + hostname + "|" + strconv.Itoa(socket)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*Host{}
	}
	if h, ok := p.m[k]; ok {
		return h
	}
	h := &Host{network: network, addr: addr, hostname: hostname, cfg: cfg, tls: cfg.tlsFor(socket)}
	p.m[k] = h
	return h
}

// Retain drops hosts no runtime uses any more, closing their idle
// connections (in-flight requests keep their connections until done).
func (p *Pool) Retain(used map[*Host]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, h := range p.m {
		if !used[h] {
			delete(p.m, k)
			h.closeIdle()
		}
	}
	for k, d := range p.dns {
		if !p.dnsUsed[k] {
			delete(p.dns, k)
			d.close()
		}
	}
	p.dnsUsed = map[string]bool{}
}

// Dial opens a connection to the host for a tcp_proxy: within the
// cluster's connect timeout, through its TLS transport socket when the
// host has one. The connection counts as a request in flight (for the
// least-request balancer) until it is closed.
func (h *Host) Dial(ctx context.Context) (net.Conn, error) {
	c, err := h.dial(ctx)
	if err != nil {
		return nil, err
	}
	h.active.Add(1)
	return &activeConn{Conn: c, h: h}, nil
}

// dial connects within the cluster's connect timeout; the connection is
// the TLS client's, handshake done, when the host uses TLS.
func (h *Host) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: h.cfg.connectTimeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, h.network, h.addr)
	if err != nil {
		return nil, err
	}
	if h.tls != nil {
		tc := tls.Client(c, h.tls)
		hctx, cancel := context.WithTimeout(ctx, h.cfg.connectTimeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return c, nil
}

// activeConn is an upstream connection of a tcp_proxy.
type activeConn struct {
	net.Conn
	h    *Host
	once sync.Once
}

func (c *activeConn) Close() error {
	c.once.Do(func() { c.h.active.Add(-1) })
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when its transport can.
func (c *activeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// DialPacket opens a UDP socket to the host for a udp_proxy session.
func (h *Host) DialPacket() (net.Conn, error) {
	return net.Dial("udp", h.addr)
}
