package main

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/translate"
)

// newTranslateCommand is egctl's `x translate`, with the same flags.
func newTranslateCommand() *cobra.Command {
	var (
		from, output, configPath, dnsDomain string
		noSummary                           bool
		opts                                translate.Options
	)
	cmd := &cobra.Command{
		Use:   "translate",
		Short: "Translate Gateway API and Envoy Gateway resources to statuses, IR and xDS, offline",
		Example: `  portico x translate -f examples/quickstart/quickstart.yaml --to gateway-api,xds -t route
  cat gateway.yaml | portico x translate -f - --to xds -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from != "gateway-api" {
				return fmt.Errorf("unknown --from %q: only gateway-api is supported", from)
			}
			if len(opts.Paths) == 0 {
				return fmt.Errorf("no input: give -f FILE, -f DIR or -f -")
			}
			if configPath != "" {
				cfg, err := resource.LoadConfig(configPath)
				if err != nil {
					return err
				}
				opts.Config = cfg
			}
			opts.Stdin = cmd.InOrStdin()
			report, err := translate.Run(opts)
			if report != nil {
				for _, p := range report.Problems {
					fmt.Fprintln(cmd.ErrOrStderr(), "problem:", p.String())
				}
				for _, e := range report.Errors {
					fmt.Fprintln(cmd.ErrOrStderr(), "error:", e)
				}
			}
			if err != nil {
				return err
			}
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
			if err := report.Output.Write(out, output); err != nil {
				return err
			}
			if err := out.Flush(); err != nil {
				return err
			}
			// The summary goes to stderr, after the document: stdout stays
			// egctl's, for scripts that parse it.
			if !noSummary {
				if err := report.Summary.Write(cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			if len(report.ExtensionErrors) > 0 {
				return fmt.Errorf("%d extension hook(s) failed without failOpen; their fleets have no xDS", len(report.ExtensionErrors))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "gateway-api", "input type: gateway-api")
	f.StringSliceVar(&opts.To, "to", []string{translate.ToXDS}, "output types: gateway-api, xds, ir (comma separated)")
	f.StringSliceVarP(&opts.Types, "type", "t", []string{"all"}, "xDS sections: all, bootstrap, cluster, listener, route, endpoint")
	f.StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	f.StringSliceVarP(&opts.Paths, "file", "f", nil, "input file, folder, or - for stdin (repeatable)")
	f.StringVarP(&opts.Namespace, "namespace", "n", translate.DefaultNamespace, "namespace for objects that set none")
	// egctl's flag, accepted so its command lines work: Portico resolves a
	// Service through its EndpointSlices or cluster IP, never its DNS name.
	f.StringVar(&dnsDomain, "dns-domain", "cluster.local", "cluster DNS domain (accepted for egctl compatibility; Services resolve through EndpointSlices or their cluster IP)")
	f.StringVar(&configPath, "config", "", "EnvoyGateway configuration file (extensionApis, runtimeFlags, ...)")
	f.StringVar(&opts.ExtensionServer, "extension-server", "", "run the extension hooks against this server (host:port or unix:///path); without an extensionManager in --config, every post hook is called")
	f.BoolVar(&opts.AddMissingResources, "add-missing-resources", false, "add what a cluster would supply, as egctl does: Services routes name (cluster IP 1.2.3.4, also given to Services without one), missing Service ports, a GatewayClass controllerName, a default EnvoyProxy")
	f.BoolVar(&noSummary, "no-summary", false, "do not print the summary (objects by kind and state) on stderr")
	f.StringVar(&opts.WasmCacheDir, "wasm-cache-dir", "", "where downloaded Wasm modules are kept (default: the user cache dir's portico/wasm, shared with portico run)")
	f.BoolVar(&opts.Diff, "diff", false, "show, per EnvoyPatchPolicy, a unified diff of the xDS before and after its patches")
	return cmd
}
