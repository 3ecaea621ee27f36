package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/runner"
)

func newProxyCommand() *cobra.Command {
	var xdsAddr, cluster, nodeID, logLevel string
	cmd := &cobra.Command{
		Use:   "proxy --xds-address HOST:PORT --cluster NAMESPACE/GATEWAY",
		Short: "Run the built-in proxy as its own process, configured over xDS",
		Long: `Proxy runs Portico's built-in data plane alone, as Envoy would run: everything it
serves comes from the xDS server. --cluster is the node's cluster, which names the
fleet whose snapshot it is served: "<namespace>/<gateway>", or the GatewayClass name
when the class merges gateways. Pair it with 'portico run --data-plane none'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			if nodeID == "" {
				nodeID = host.NodeID(cluster, "proxy")
			}
			proxy.TuneGC()
			p, err := proxy.New(proxy.Options{XDSAddress: xdsAddr, NodeID: nodeID, Cluster: cluster, Logger: log})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log.Info("proxy starting", "xds", xdsAddr, "cluster", cluster, "node", nodeID)
			return p.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&xdsAddr, "xds-address", runner.DefaultXDSAddress, "xDS (ADS gRPC) server address")
	f.StringVar(&cluster, "cluster", "", "fleet this proxy serves: <namespace>/<gateway> (or a merged GatewayClass name)")
	f.StringVar(&nodeID, "node-id", "", "node id (default: proxy/<cluster>/<pid>)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	_ = cmd.MarkFlagRequired("cluster")
	return cmd
}
