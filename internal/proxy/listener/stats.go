package listener

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/portico-gw/portico/internal/proxy/hcm"
	"github.com/portico-gw/portico/internal/proxy/stats"
)

// connStats are a listener's stats under Envoy's names
// (listener.<address>.*, the address as Envoy writes it: 0.0.0.0_10080),
// resolved when the listener compiles.
type connStats struct {
	total  *stats.Counter
	active *stats.Gauge
}

func newConnStats(s *stats.Store, addr string) connStats {
	p := "listener." + strings.ReplaceAll(addr, ":", "_") + "."
	return connStats{total: s.Counter(p + "downstream_cx_total"), active: s.Gauge(p + "downstream_cx_active")}
}

// trackedConn is a downstream connection that gives back what it holds
// when closed: its slot of the connection limit (l, nil when not
// counted) and its place in the active connections gauges of its
// listener and of the HCM that serves it (set once its filter chain is
// known: after the TLS handshake's SNI for TLS listeners).
type trackedConn struct {
	net.Conn
	l        *ConnLimit
	listener *stats.Gauge
	hcm      atomic.Pointer[stats.Gauge]
	once     sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		if c.l != nil {
			c.l.n.Add(-1)
		}
		c.listener.Add(-1)
		c.hcm.Load().Add(-1)
	})
	return c.Conn.Close()
}

// CloseWrite keeps the half-close h1srv and net/http use before closing.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// opened counts the connection on rt's listener and, for plaintext
// listeners, on the HCM of the chain a connection without SNI gets.
func (c *trackedConn) opened(rt *Runtime) {
	if rt == nil {
		return
	}
	st := rt.cfg.stats
	st.total.Inc()
	st.active.Add(1)
	c.listener = st.active
	if !rt.cfg.tls {
		lr, _ := rt.chain(rt.pick(""))
		c.servedBy(lr)
	}
}

// servedBy counts the connection on the HCM of the chain it was given, once
// its chain is known (nil: a tcp_proxy chain, which has no HCM).
func (c *trackedConn) servedBy(lr *hcm.Runtime) {
	if lr != nil && c.hcm.Load() == nil {
		c.hcm.Store(lr.Config().ConnOpened())
	}
}
