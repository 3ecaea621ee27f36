package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/envoyargs"
	"github.com/portico-gw/portico/internal/proxy"
)

// IsEnvoyCommandLine reports whether args (after the program name, or
// after "proxy") are Envoy's rather than `portico proxy`'s: the binary is
// called envoy (Portico's image links envoy to portico, so that the pod
// Envoy Gateway's infrastructure makes runs the built-in proxy), or the
// arguments give a bootstrap.
func IsEnvoyCommandLine(argv0 string, args []string) bool {
	if filepath.Base(argv0) == "envoy" {
		return true
	}
	for _, a := range args {
		for _, f := range []string{"--config-yaml", "-c", "--config-path"} {
			if a == f || len(a) > len(f) && a[:len(f)+1] == f+"=" {
				return true
			}
		}
	}
	return false
}

// EnvoyMain runs the built-in proxy from Envoy's command line (the flags
// envoyargs reads) and returns the exit code. The xDS server, its mutual
// TLS and the node come from the bootstrap and --service-cluster /
// --service-node; the bootstrap's admin address gets the built-in proxy's
// admin interface (its readiness listener comes over xDS). The bootstrap's
// static stats listener (:19001) is not served yet.
func EnvoyMain(args []string) int {
	if err := envoyMain(args); err != nil {
		fmt.Fprintln(os.Stderr, "portico proxy:", err)
		return 1
	}
	return 0
}

func envoyMain(args []string) error {
	cmd, err := envoyargs.Parse(args)
	if err != nil {
		return err
	}
	log, err := NewLogger(cmd.SlogLevel())
	if err != nil {
		return err
	}
	x, err := envoyargs.XDSOf(cmd.Bootstrap)
	if err != nil {
		return err
	}
	node := cmd.Node()
	if node.GetCluster() == "" {
		return errors.New("no fleet: give --service-cluster (or node.cluster in the bootstrap)")
	}
	if x.TLS == nil {
		return errors.New("the bootstrap's xDS cluster has no TLS: the built-in proxy talks to its control plane over mutual TLS only")
	}
	dir := filepath.Dir(x.TLS.CertFile)
	for _, f := range []struct{ path, name string }{{x.TLS.CertFile, certs.CertFile}, {x.TLS.KeyFile, certs.KeyFile}, {x.TLS.CAFile, certs.CAFile}} {
		if f.path != filepath.Join(dir, f.name) {
			return fmt.Errorf("the xDS TLS files must be %s, %s and %s in one folder (a kubernetes.io/tls Secret's), not %s",
				certs.CAFile, certs.CertFile, certs.KeyFile, f.path)
		}
	}
	src, err := certs.NewSource(dir)
	if err != nil {
		return err
	}
	serverName := certs.ControlPlane
	if len(x.TLS.ServerNames) > 0 {
		serverName = x.TLS.ServerNames[0]
	}
	proxy.TuneGC()
	p, err := proxy.New(proxy.Options{XDSAddress: x.Address, XDSTLS: certs.ClientConfig(src, serverName),
		NodeID: node.GetId(), Cluster: node.GetCluster(), Logger: log, DrainTimeout: cmd.DrainTime,
		AdminAddress: adminAddress(cmd.Bootstrap)})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("proxy starting from Envoy's command line", "xds", x.Address, "cluster", node.GetCluster(), "node", node.GetId(), "certs", dir)
	return p.Run(ctx)
}

// adminAddress is the bootstrap's admin socket address, host:port ("" when
// it has none).
func adminAddress(b *bootstrapv3.Bootstrap) string {
	sa := b.GetAdmin().GetAddress().GetSocketAddress()
	if sa == nil {
		return ""
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
}
