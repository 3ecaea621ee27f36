package runner

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/test/bufconn"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/infra/host"
)

// DefaultStateDir is where `portico run` keeps its state (the certificates
// under certs/) unless told otherwise: $XDG_CONFIG_HOME/portico, else
// ~/.config/portico, as Envoy Gateway's standalone mode keeps its own in
// ~/.config/envoy-gateway.
func DefaultStateDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "portico")
	}
	return filepath.Join(os.TempDir(), "portico-"+os.Getenv("USER"))
}

// ConfigStateDir is the EnvoyGateway configuration's host configHome, when
// it sets one: the state directory it names.
func ConfigStateDir(cfg *egv1a1.EnvoyGateway) string {
	if cfg != nil && cfg.Provider != nil && cfg.Provider.Custom != nil && cfg.Provider.Custom.Infrastructure != nil &&
		cfg.Provider.Custom.Infrastructure.Host != nil && cfg.Provider.Custom.Infrastructure.Host.ConfigHome != nil {
		return *cfg.Provider.Custom.Infrastructure.Host.ConfigHome
	}
	return ""
}

// CertsDir is the certificates directory of a state directory.
func CertsDir(stateDir string) string { return filepath.Join(stateDir, "certs") }

// CertsDir is where this runner keeps its certificates (after Start): the
// control plane's bundle in certs.ControlPlane, the proxies' in certs.Proxy.
// The wasm port serves with the same bundles.
func (r *Runner) CertsDir() string { return CertsDir(r.stateDir) }

// setupCerts makes sure the state directory holds the certificates and
// returns the xDS server's TLS configuration (mutual TLS with the proxy
// bundle's holders). Without a state directory (tests) one is made and
// removed when the runner stops.
func (r *Runner) setupCerts() (*tls.Config, error) {
	if dir := r.opts.XDSCertDir; dir != "" {
		src, err := certs.NewSource(dir)
		if err != nil {
			return nil, err
		}
		return certs.ServerConfig(src), nil
	}
	if r.stateDir == "" {
		d, err := os.MkdirTemp("", "portico-state-")
		if err != nil {
			return nil, err
		}
		r.stateDir, r.removeState = d, true
	}
	root := CertsDir(r.stateDir)
	generated, err := certs.Ensure(root, certs.Options{})
	if err != nil {
		return nil, err
	}
	if generated {
		r.log.Info("generated the control plane's CA and certificates", "dir", root)
	}
	src, err := certs.NewSource(filepath.Join(root, certs.ControlPlane))
	if err != nil {
		return nil, err
	}
	return certs.ServerConfig(src), nil
}

// inProcessListener is the in-memory listener in-process proxies reach
// the xDS server on: no socket, so nothing else on the host can reach it.
// Its buffer is the ADS client's flow-control window.
func inProcessListener() *bufconn.Listener { return bufconn.Listen(16 << 20) }

// dialer connects in-process proxies to l.
func dialer(l *bufconn.Listener) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }
}

// processCollector reports the host infrastructure's proxy processes at
// scrape time, from the same state /status shows.
type processCollector struct {
	infra  func() *host.Infra
	starts *prometheus.Desc
	exits  *prometheus.Desc
	up     *prometheus.Desc
}

func newProcessCollector(infra func() *host.Infra) *processCollector {
	labels := []string{"fleet", "command"}
	return &processCollector{
		infra:  infra,
		starts: prometheus.NewDesc("portico_proxy_process_starts_total", "Proxy processes started, per fleet.", labels, nil),
		exits:  prometheus.NewDesc("portico_proxy_process_exits_total", "Proxy processes that exited on their own (and were restarted), per fleet.", labels, nil),
		up:     prometheus.NewDesc("portico_proxy_process_up", "1 while the fleet's proxy process runs.", labels, nil),
	}
}

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.starts
	ch <- c.exits
	ch <- c.up
}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	infra := c.infra()
	if infra == nil {
		return
	}
	for _, p := range infra.Processes() {
		up := 0.0
		if p.PID != 0 {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.starts, prometheus.CounterValue, float64(p.Starts), p.Fleet, p.Command)
		ch <- prometheus.MustNewConstMetric(c.exits, prometheus.CounterValue, float64(p.Exits), p.Fleet, p.Command)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, p.Fleet, p.Command)
	}
}
