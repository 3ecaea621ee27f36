package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/portico-gw/portico/internal/proxy/admin"
	"github.com/portico-gw/portico/internal/proxy/stats"
)

// State is Envoy's server state: LIVE once a config is served,
// PRE_INITIALIZING before, DRAINING once the proxy stops.
func (p *Proxy) State() string {
	switch {
	case p.draining.Load():
		return "DRAINING"
	case p.ready.Load():
		return "LIVE"
	}
	return "PRE_INITIALIZING"
}

// Uptime is how long ago the proxy was made.
func (p *Proxy) Uptime() time.Duration { return time.Since(p.started) }

// serverStats registers Envoy's server.live and server.uptime, computed
// when read.
func (p *Proxy) serverStats(s *stats.Store) {
	s.GaugeFunc("server.live", func() int64 {
		if p.State() == "LIVE" {
			return 1
		}
		return 0
	})
	s.GaugeFunc("server.uptime", func() int64 { return int64(p.Uptime() / time.Second) })
}

// serveAdmin binds the admin interface on Options.AdminAddress (when set)
// and serves it until ctx ends. The bound address is written to
// Options.AdminAddressPath, as Envoy's --admin-address-path does, so that
// whoever asked for port 0 learns the port.
func (p *Proxy) serveAdmin(ctx context.Context) (stop func(), err error) {
	if p.opts.AdminAddress == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", p.opts.AdminAddress)
	if err != nil {
		return nil, fmt.Errorf("admin address: %w", err)
	}
	if path := p.opts.AdminAddressPath; path != "" {
		if err := os.WriteFile(path, []byte(ln.Addr().String()), 0o644); err != nil {
			ln.Close()
			return nil, fmt.Errorf("admin address path: %w", err)
		}
	}
	srv := &http.Server{Handler: admin.Handler(p), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("admin interface stopped", "err", err)
		}
	}()
	p.log.Info("admin interface listening", "address", ln.Addr().String())
	return func() { srv.Close(); <-done }, nil
}
