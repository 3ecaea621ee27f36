// Package cli holds the command-line pieces shared by cmd/portico and by
// tests that run Portico's own commands as child processes (a test binary
// that is asked to be `portico proxy` runs ProxyMain).
package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/proxy/budget"
	"github.com/portico-gw/portico/internal/runner"
)

// NewLogger is the text logger of every command, at level.
func NewLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// LuaLimitFlags registers the Lua budget flags on f (the names
// host.LuaLimitArgs passes to child proxies).
func LuaLimitFlags(f interface {
	Int64Var(*int64, string, int64, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}, l *budget.Limits) {
	f.Int64Var(&l.Instructions, "lua-max-instructions", 0, fmt.Sprintf("Lua instructions one script call may run (0: %d, -1: no limit)", budget.Default.Instructions))
	f.DurationVar(&l.Time, "lua-max-time", 0, fmt.Sprintf("running time one Lua script call may take (0: %v, -1ns: no limit)", budget.Default.Time))
	f.Int64Var(&l.Memory, "lua-max-memory", 0, fmt.Sprintf("bytes one Lua script call may use (0: %d, -1: no limit)", budget.Default.Memory))
}

// NewProxyCommand is `portico proxy`.
func NewProxyCommand() *cobra.Command {
	var (
		xdsAddr, cluster, nodeID, logLevel, certsDir string
		adminAddr, adminAddrPath                     string
		drain                                        time.Duration
		limits                                       budget.Limits
	)
	cmd := &cobra.Command{
		Use:   "proxy --xds-address HOST:PORT --cluster NAMESPACE/GATEWAY [--certs DIR]",
		Short: "Run the built-in proxy as its own process, configured over xDS",
		Long: `Proxy runs Portico's built-in data plane alone, as Envoy would run: everything it
serves comes from the xDS server. --cluster is the node's cluster, which names the
fleet whose snapshot it is served: "<namespace>/<gateway>", or the GatewayClass name
when the class merges gateways.

The xDS connection is mutual TLS: --certs is a directory with ca.crt, tls.crt and
tls.key (the "envoy" bundle 'portico run' keeps in <state dir>/certs/envoy); the
server must present a certificate for "envoy-gateway" signed by ca.crt.

'portico run' starts one such process per fleet; pair it with
'portico run --data-plane none' to run proxies yourself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := NewLogger(logLevel)
			if err != nil {
				return err
			}
			if nodeID == "" {
				nodeID = host.NodeID(cluster, "proxy")
			}
			src, err := certs.NewSource(certsDir)
			if err != nil {
				return fmt.Errorf("--certs: %w (start 'portico run' once to create the certificates)", err)
			}
			proxy.TuneGC()
			p, err := proxy.New(proxy.Options{XDSAddress: xdsAddr, XDSTLS: certs.ClientConfig(src, certs.ControlPlane),
				NodeID: nodeID, Cluster: cluster, Logger: log, DrainTimeout: drain, LuaLimits: limits,
				AdminAddress: adminAddr, AdminAddressPath: adminAddrPath})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log.Info("proxy starting", "xds", xdsAddr, "cluster", cluster, "node", nodeID, "certs", certsDir)
			return p.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&xdsAddr, "xds-address", runner.DefaultXDSAddress, "xDS (ADS gRPC) server address")
	f.StringVar(&cluster, "cluster", "", "fleet this proxy serves: <namespace>/<gateway> (or a merged GatewayClass name)")
	f.StringVar(&nodeID, "node-id", "", "node id (default: proxy/<cluster>/<pid>)")
	f.StringVar(&certsDir, "certs", filepath.Join(runner.DefaultStateDir(), "certs", certs.Proxy), "directory with ca.crt, tls.crt and tls.key for mTLS to the xDS server")
	f.DurationVar(&drain, "drain-timeout", 30*time.Second, "how long a stopping proxy lets requests in flight finish")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	// Off by default: proxies started side by side on one host would
	// clash on any fixed port.
	f.StringVar(&adminAddr, "admin-address", "", "address of the admin interface (/ready, /stats, /stats/prometheus, /server_info), e.g. 127.0.0.1:19000 (default: none)")
	f.StringVar(&adminAddrPath, "admin-address-path", "", "file to write the admin interface's bound address to (with --admin-address HOST:0)")
	LuaLimitFlags(f, &limits)
	_ = cmd.MarkFlagRequired("cluster")
	return cmd
}

// ProxyMain runs `portico proxy` with args and returns the exit code.
func ProxyMain(args []string) int {
	cmd := NewProxyCommand()
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	if err := cmd.Execute(); err != nil {
		return 1
	}
	return 0
}

// RunChildProxy makes a test binary serve as the child proxy processes
// the runner starts from os.Executable(): call it first in TestMain. When
// the binary was started as "<binary> proxy ...", it runs the proxy and
// exits; otherwise it returns.
func RunChildProxy() {
	if len(os.Args) > 1 && os.Args[1] == "proxy" {
		os.Exit(ProxyMain(os.Args[2:]))
	}
}
