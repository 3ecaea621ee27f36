package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/portico-gw/portico/internal/cli"
	"github.com/portico-gw/portico/internal/kubeserver"
)

func newServerCommand() *cobra.Command {
	var configPath, kubeconfig, xdsAddr, adminAddr, healthAddr, metricsAddr, logLevel, certsDir, wasmAddr, wasmCache string
	cmd := &cobra.Command{
		Use:   "server [--config-path /config/envoy-gateway.yaml]",
		Short: "Run the control plane in a Kubernetes cluster (Envoy Gateway's envoy-gateway server)",
		Long: `Server is the in-cluster entry point, as 'envoy-gateway server' is: it watches the
API server for Gateway API and Envoy Gateway resources, serves their xDS to the proxies,
writes their status back, and (as the leader of its replicas) creates each Gateway's
proxy Deployment, Service, ServiceAccount and ConfigMap in its namespace
(ENVOY_GATEWAY_NAMESPACE, default envoy-gateway-system). The EnvoyGateway file
(--config-path, mounted from the envoy-gateway-config ConfigMap) is watched: a valid
change restarts the control plane with it, an invalid one is logged and ignored.
The API server is found as kubectl finds it: --kubeconfig, KUBECONFIG, the pod's
service account, then ~/.kube/config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := cli.NewLogger(logLevel)
			if err != nil {
				return err
			}
			rc, err := restConfig(kubeconfig)
			if err != nil {
				return err
			}
			callTimeout, err := extensionCallTimeout()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return kubeserver.Run(ctx, kubeserver.Options{ConfigPath: configPath, RestConfig: rc,
				Namespace: kubeserver.Namespace(), XDSAddress: xdsAddr, AdminAddress: adminAddr,
				HealthAddress: healthAddr, MetricsAddress: metricsAddr, Infrastructure: true, CertsDir: certsDir, WasmAddress: wasmAddr, WasmCacheDir: wasmCache,
				Logger: log, ExtensionCallTimeout: callTimeout})
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config-path", "/config/envoy-gateway.yaml", "EnvoyGateway configuration file (watched; missing: defaults)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)")
	f.StringVar(&xdsAddr, "xds-address", "0.0.0.0:18000", "xDS (ADS gRPC) server address")
	f.StringVar(&adminAddr, "admin-address", "127.0.0.1:19000", "admin HTTP server address")
	f.StringVar(&healthAddr, "health-address", ":8081", "health probe address (/healthz, /readyz); empty: none")
	f.StringVar(&metricsAddr, "metrics-address", "0.0.0.0:19001", "Prometheus metrics (/metrics) address, the chart's metrics port; empty: none")
	f.StringVar(&certsDir, "certs-dir", "/certs", "the xDS server's certificate: ca.crt, tls.crt, tls.key (the envoy-gateway Secret 'portico certgen' makes)")
	f.StringVar(&wasmAddr, "wasm-address", "0.0.0.0:18002", "the wasm server proxies fetch modules from")
	f.StringVar(&wasmCache, "wasm-cache-dir", "/var/lib/eg/wasm", "the Wasm module cache (the chart mounts an emptyDir there)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// restConfig finds the API server as kubectl does.
func restConfig(kubeconfig string) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	if kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		rc, err = ctrlconfig.GetConfig()
	}
	if err != nil {
		return nil, err
	}
	rc.Timeout = 30 * time.Second
	return rc, nil
}
