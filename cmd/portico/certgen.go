package main

import (
	"os"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-gw/portico/internal/cli"
	"github.com/portico-gw/portico/internal/kubeserver"
	"github.com/portico-gw/portico/internal/kubeserver/certgen"
)

func newCertgenCommand() *cobra.Command {
	var kubeconfig, logLevel string
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "certgen",
		Short: "Make the Secrets of the mTLS between the control plane and its proxies (Envoy Gateway's certgen)",
		Long: `Certgen makes, in the control plane's namespace (ENVOY_GATEWAY_NAMESPACE, default
envoy-gateway-system), the Secrets envoy-gateway and envoy (kubernetes.io/tls with
ca.crt, one CA) and envoy-oidc-hmac, as Envoy Gateway's certgen Job does before its
chart is installed. Secrets that exist are kept unless --overwrite.`,
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
			c, err := client.New(rc, client.Options{})
			if err != nil {
				return err
			}
			domain := os.Getenv("KUBERNETES_CLUSTER_DOMAIN")
			made, err := certgen.Run(cmd.Context(), c, certgen.Options{Namespace: kubeserver.Namespace(),
				ClusterDomain: domain, Overwrite: overwrite, Logger: log})
			log.Info("certgen", "made", made)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)")
	f.BoolVar(&overwrite, "overwrite", false, "replace Secrets that exist")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
