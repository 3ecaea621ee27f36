package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

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
// admin interface and its static listeners are served (Envoy Gateway's
// :19001 stats listener, to the prometheus_stats cluster); the
// readiness listener comes over xDS.
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
		AdminAddress: adminAddress(cmd.Bootstrap), Static: staticOf(cmd.Bootstrap, log)})
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

// staticOf is what the proxy serves of the bootstrap's static resources:
// its listeners and STATIC clusters. The ADS cluster carries xDS itself,
// and Envoy Gateway's local_cluster (EDS) only feeds zone-aware balancing,
// which the built-in proxy does not do: those are left out, and said so.
func staticOf(b *bootstrapv3.Bootstrap, log *slog.Logger) proxy.StaticResources {
	ads := ""
	if g := b.GetDynamicResources().GetAdsConfig().GetGrpcServices(); len(g) == 1 {
		ads = g[0].GetEnvoyGrpc().GetClusterName()
	}
	st := proxy.StaticResources{Listeners: b.GetStaticResources().GetListeners()}
	for _, c := range b.GetStaticResources().GetClusters() {
		switch {
		case c.GetName() == ads:
		case c.GetType() == clusterv3.Cluster_STATIC:
			st.Clusters = append(st.Clusters, c)
		default:
			log.Info("bootstrap static cluster not served by the built-in proxy", "cluster", c.GetName(), "type", c.GetType().String())
		}
	}
	return st
}
