package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/budget"
	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/filters"

	// Every filter package, linked so that it registers itself: the one
	// list of them is package all.
	_ "github.com/portico-gw/portico/internal/proxy/filters/all"
	"github.com/portico-gw/portico/internal/proxy/listener"
	"github.com/portico-gw/portico/internal/proxy/stats"
	"github.com/portico-gw/portico/internal/proxy/xdsclient"
)

// Resolver looks up the addresses of a host name (DNS clusters);
// *net.Resolver is one.
type Resolver = cluster.Resolver

// Options configure a Proxy. Everything else comes from xDS.
type Options struct {
	// XDSAddress is the ADS server, host:port.
	XDSAddress string
	// XDSTLS, when set, secures the ADS connection (certs.ClientConfig:
	// the proxy's certificate, the control plane's CA and name). Without
	// it the connection is plaintext, which only an in-memory XDSDialer
	// or a test should use.
	XDSTLS *tls.Config
	// XDSDialer, when set, makes the ADS connection instead of dialing
	// XDSAddress over TCP: the in-process proxy's in-memory connection.
	XDSDialer func(ctx context.Context, address string) (net.Conn, error)
	// NodeID and Cluster identify this proxy to the control plane.
	NodeID, Cluster string
	// AccessLog receives one line per request in Envoy's default format
	// (nil: os.Stdout; io.Discard to turn it off).
	AccessLog io.Writer
	// Logger receives operational logs (nil: slog.Default()).
	Logger *slog.Logger
	// DrainTimeout bounds how long a removed listener waits for in-flight
	// requests (default 30s).
	DrainTimeout time.Duration
	// InitialFetchTimeout is how long to wait for RDS/EDS referenced by a
	// new LDS/CDS before serving without them (default 15s, as Envoy).
	InitialFetchTimeout time.Duration
	// LuaLimits bound every call into a Lua script (zero: the defaults of
	// internal/proxy/budget).
	LuaLimits budget.Limits
	// SotW speaks state-of-the-world ADS instead of incremental (delta)
	// ADS, for control planes that serve only that.
	SotW bool
	// MaxDownstreamConnections bounds the connections the listeners hold
	// at once (Envoy's global_downstream_max_connections; see
	// listener/connlimit.go). 0: a limit derived from the process's file
	// descriptor limit, shared by every proxy in the process; negative:
	// none.
	MaxDownstreamConnections int
	// Resolver resolves the host names of DNS clusters (nil: the system
	// resolver, net.DefaultResolver).
	Resolver Resolver
	// AdminAddress, when set, is where the admin interface (/ready,
	// /stats, /stats/prometheus, /server_info) listens: the bootstrap's
	// admin address. Empty: no admin interface.
	AdminAddress string
	// AdminAddressPath, when set, is a file the admin interface's bound
	// address is written to (Envoy's --admin-address-path).
	AdminAddressPath string
	// Static are the bootstrap's static listeners and clusters, served
	// beside xDS's from the start.
	Static StaticResources
}

// Status is a snapshot of what the proxy has accepted and serves.
type Status struct {
	// Versions holds the accepted version per xDS type ("LDS", "RDS",
	// "CDS", "EDS").
	Versions map[string]string
	// Applied counts config swaps; Ready is true once the first complete
	// config is being served.
	Applied uint64
	Ready   bool
	// LastNACK is the error_detail of the most recent NACK ("" if none),
	// NACKs counts them.
	LastNACK string
	NACKs    int
	// Listening lists the bound addresses being served.
	Listening []string
	// Warnings are accepted-but-not-enforced settings of the current config.
	Warnings []string
}

// Proxy is the built-in data plane.
type Proxy struct {
	opts     Options
	log      *slog.Logger
	alog     *accesslog.Logger
	socks    *listener.Sockets
	pool     *cluster.Pool
	draining atomic.Bool
	ready    atomic.Bool
	// clusters are the clusters being served, for filters that reach
	// them outside a request (a Wasm module's download).
	clusters atomic.Pointer[cluster.Set]
	// stats are the counters filters keep (grpc_stats).
	stats   *stats.Store
	started time.Time
	static  *static

	mu      sync.Mutex
	status  Status
	changed chan struct{}
}

// New checks the options; nothing is bound until Run.
func New(o Options) (*Proxy, error) {
	if o.XDSAddress == "" {
		return nil, errors.New("proxy: XDSAddress is required")
	}
	if o.NodeID == "" {
		return nil, errors.New("proxy: NodeID is required")
	}
	if o.AccessLog == nil {
		o.AccessLog = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.InitialFetchTimeout == 0 {
		o.InitialFetchTimeout = 15 * time.Second
	}
	p := &Proxy{opts: o, log: o.Logger, alog: accesslog.NewLogger(o.AccessLog), pool: cluster.NewPool(o.Resolver),
		socks: listener.NewSockets(o.DrainTimeout, o.Logger, o.MaxDownstreamConnections), changed: make(chan struct{}), stats: stats.New()}
	p.status.Versions = map[string]string{}
	p.started = time.Now()
	p.serverStats(p.stats)
	var err error
	if p.static, err = compileStatic(o.Static, p.buildContext()); err != nil {
		return nil, err
	}
	return p, nil
}

// Run connects to the ADS server and serves until ctx ends, then drains
// every listener and returns.
func (p *Proxy) Run(ctx context.Context) error {
	stopAdmin, err := p.serveAdmin(ctx)
	if err != nil {
		return err
	}
	defer stopAdmin()
	if err := p.serveStatic(); err != nil {
		p.socks.CloseAll()
		return err
	}
	err = xdsclient.Run(ctx, xdsclient.Options{Address: p.opts.XDSAddress, TLS: p.opts.XDSTLS, Dialer: p.opts.XDSDialer,
		NodeID: p.opts.NodeID, Cluster: p.opts.Cluster, SotW: p.opts.SotW, InitialFetchTimeout: p.opts.InitialFetchTimeout,
		Logger: p.log}, &configs{p: p, memo: map[string]*compileMemo{}})
	p.draining.Store(true)
	p.socks.CloseAll()
	p.alog.Flush() // buffered file access logs
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Status returns a copy of the current status.
func (p *Proxy) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.status
	s.Versions = make(map[string]string, len(p.status.Versions))
	for k, v := range p.status.Versions {
		s.Versions[k] = v
	}
	s.Listening = append([]string(nil), p.status.Listening...)
	s.Warnings = append([]string(nil), p.status.Warnings...)
	return s
}

// WaitFor blocks until cond holds for the status or ctx ends.
func (p *Proxy) WaitFor(ctx context.Context, cond func(Status) bool) error {
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if cond(p.Status()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *Proxy) update(fn func(s *Status)) {
	p.mu.Lock()
	fn(&p.status)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func (p *Proxy) buildContext() filters.BuildContext {
	return filters.BuildContext{
		Serving: func() bool { return !p.draining.Load() && p.ready.Load() },
		Upstreams: func() filters.Upstreams {
			if c := p.clusters.Load(); c != nil {
				return *c
			}
			return cluster.Set{}
		},
		Logger:    p.log,
		LuaLimits: p.opts.LuaLimits,
		Stats:     p.stats,
	}
}

// Stats returns the proxy's counters and gauges, sorted by name, as Envoy
// names them.
func (p *Proxy) Stats() []stats.Sample { return p.stats.Snapshot() }
