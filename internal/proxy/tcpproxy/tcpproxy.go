// Package tcpproxy is the built-in proxy's envoy.filters.network.tcp_proxy:
// a downstream connection is sent to one host of its cluster (picked by the
// cluster's balancer), bytes are copied both ways with half-close, the
// session ends after idle_timeout without traffic, and one access log line
// records it with Envoy's TCP fields and response flags (UH: no healthy
// host, UF: upstream connect failure, NC: no such cluster).
package tcpproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/stats"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// TypeURL is tcp_proxy's config type.
const TypeURL = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

// defaultIdleTimeout is Envoy's tcp_proxy idle_timeout default.
const defaultIdleTimeout = time.Hour

// Config is a compiled TcpProxy.
type Config struct {
	statPrefix  string
	cluster     string
	idleTimeout time.Duration // 0: none
	attempts    int
	logs        []*accesslog.Spec
	stats       proxyStats
}

// proxyStats are tcp_proxy's downstream stats under Envoy's names
// (tcp.<stat_prefix>.*), resolved when it compiles.
type proxyStats struct {
	cxTotal, noRoute, txBytes, rxBytes, idleTimeout *stats.Counter
}

func newProxyStats(s *stats.Store, statPrefix string) proxyStats {
	p := "tcp." + statPrefix + "."
	return proxyStats{cxTotal: s.Counter(p + "downstream_cx_total"), noRoute: s.Counter(p + "downstream_cx_no_route"),
		txBytes: s.Counter(p + "downstream_cx_tx_bytes_total"), rxBytes: s.Counter(p + "downstream_cx_rx_bytes_total"),
		idleTimeout: s.Counter(p + "idle_timeout")}
}

// Compile compiles a TcpProxy, its stats kept in st (nil: none). Fields
// the proxy does not honour are refused, so the listener is NACKed rather
// than served differently.
func Compile(a *anypb.Any, st *stats.Store) (*Config, error) {
	var p tcpproxyv3.TcpProxy
	if err := a.UnmarshalTo(&p); err != nil {
		return nil, err
	}
	if err := xdsconf.CheckFields("tcp_proxy", &p, "stat_prefix", "cluster", "idle_timeout", "access_log", "max_connect_attempts"); err != nil {
		return nil, err
	}
	if p.GetCluster() == "" {
		return nil, fmt.Errorf("tcp_proxy: cluster is required")
	}
	c := &Config{statPrefix: p.GetStatPrefix(), cluster: p.GetCluster(), idleTimeout: defaultIdleTimeout, attempts: 1}
	if p.IdleTimeout != nil {
		c.idleTimeout = p.GetIdleTimeout().AsDuration() // 0 disables it, as in Envoy
	}
	if n := p.GetMaxConnectAttempts(); n != nil && n.GetValue() > 1 {
		c.attempts = int(n.GetValue())
	}
	logs, err := accesslog.Compile(p.GetAccessLog())
	if err != nil {
		return nil, fmt.Errorf("tcp_proxy: %v", err)
	}
	c.logs = logs
	c.stats = newProxyStats(st, c.statPrefix)
	return c, nil
}

// Cluster is the cluster the proxy connects to.
func (c *Config) Cluster() string { return c.cluster }

// Serve proxies down until either side is done, then closes it and logs
// the session. info.Start must be set.
func (c *Config) Serve(ctx context.Context, down net.Conn, clusters cluster.Set, log *accesslog.Logger, info *streaminfo.StreamInfo) {
	defer down.Close()
	c.stats.cxTotal.Inc()
	info.UpstreamCluster = c.cluster
	up, err := c.connect(ctx, clusters, info)
	if err != nil {
		log.Log(info, c.logs)
		return
	}
	defer up.Close()
	c.pipe(down, up, info)
	log.Log(info, c.logs)
}

var errNoHost = errors.New("no healthy upstream")

// connect dials a host of the cluster, up to max_connect_attempts times,
// and records the response flag of a failure.
func (c *Config) connect(ctx context.Context, clusters cluster.Set, info *streaminfo.StreamInfo) (net.Conn, error) {
	cl := clusters[c.cluster]
	if cl == nil {
		info.ResponseFlags = "NC"
		c.stats.noRoute.Inc()
		return nil, fmt.Errorf("cluster %s not found", c.cluster)
	}
	var last error = errNoHost
	for range c.attempts {
		h := cl.Pick()
		if h == nil {
			info.ResponseFlags = "UH"
			return nil, errNoHost
		}
		info.UpstreamHost = h.Addr()
		up, err := h.Dial(ctx)
		if err == nil {
			return up, nil
		}
		cl.Stats().ConnectFail.Inc()
		last = err
	}
	// A refused connection and a connect timeout are both UF in Envoy's
	// tcp_proxy.
	info.ResponseFlags = "UF"
	return nil, last
}

// pipe copies bytes both ways. When one side finishes sending, the other
// is half-closed so it sees EOF and can still answer; the session ends when
// both directions are done, on an error, or after idle_timeout without a
// byte either way.
func (c *Config) pipe(down, up net.Conn, info *streaminfo.StreamInfo) {
	// Envoy's tcp_proxy sets no response flag on an idle timeout.
	idle := newIdleTimer(c.idleTimeout, func() {
		c.stats.idleTimeout.Inc()
		down.Close()
		up.Close()
	})
	defer idle.stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		n := copyHalf(up, down, idle)
		info.BytesReceived.Add(n)
		c.stats.rxBytes.Add(uint64(n))
	}()
	var sent int64
	go func() {
		defer wg.Done()
		sent = copyHalf(down, up, idle)
	}()
	wg.Wait()
	info.BytesSent = sent
	c.stats.txBytes.Add(uint64(sent))
}

// copyHalf copies src to dst, then half-closes dst (or closes it when it
// cannot half-close), and returns the bytes copied.
func copyHalf(dst, src net.Conn, idle *idleTimer) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			idle.touch()
			if _, werr := dst.Write(buf[:k]); werr != nil {
				src.Close()
				break
			}
			n += int64(k)
		}
		if err != nil {
			if err != io.EOF {
				// A reset or a closed side ends both directions.
				dst.Close()
				return n
			}
			break
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return n
		}
	}
	dst.Close()
	return n
}

// idleTimer fires once no byte moved for d.
type idleTimer struct {
	mu   sync.Mutex
	t    *time.Timer
	d    time.Duration
	last time.Time
	fire func()
}

func newIdleTimer(d time.Duration, fire func()) *idleTimer {
	it := &idleTimer{d: d, fire: fire, last: time.Now()}
	if d > 0 {
		it.t = time.AfterFunc(d, it.check)
	}
	return it
}

// touch records traffic; the timer re-arms itself lazily in check, so a
// busy connection costs a clock read per read, not a timer reset.
func (it *idleTimer) touch() {
	if it.t == nil {
		return
	}
	it.mu.Lock()
	it.last = time.Now()
	it.mu.Unlock()
}

func (it *idleTimer) check() {
	it.mu.Lock()
	left := it.d - time.Since(it.last)
	if left > 0 {
		it.t.Reset(left)
		it.mu.Unlock()
		return
	}
	it.mu.Unlock()
	it.fire()
}

func (it *idleTimer) stop() {
	if it.t != nil {
		it.t.Stop()
	}
}
