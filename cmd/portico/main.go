// Command portico is a Gateway API control plane that speaks Envoy Gateway's
// API. Its verbs: x translate (offline translation), version, and the
// runtime verbs as they land.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/internal/cli"
	"github.com/portico-gw/portico/internal/version"
)

func main() {
	// Envoy's command line, as Envoy Gateway's proxy Deployment gives it:
	// run as "envoy" (the image's link) or "portico proxy --config-yaml ...".
	if args := os.Args[1:]; cli.IsEnvoyCommandLine(os.Args[0], nil) {
		os.Exit(cli.EnvoyMain(args))
	} else if len(args) > 0 && args[0] == "proxy" && cli.IsEnvoyCommandLine("", args[1:]) {
		os.Exit(cli.EnvoyMain(args[1:]))
	}
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "portico",
		Short:         "A Gateway API control plane compatible with Envoy Gateway",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newVersionCommand(), newExperimentalCommand(), newRunCommand(), cli.NewProxyCommand(), newServerCommand(), newCertgenCommand(), newWasmCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.String())
		},
	}
}

// newExperimentalCommand groups egctl's `x` verbs.
func newExperimentalCommand() *cobra.Command {
	x := &cobra.Command{Use: "x", Short: "Experimental features (egctl x)"}
	x.AddCommand(newTranslateCommand())
	return x
}
