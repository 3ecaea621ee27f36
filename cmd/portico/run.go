package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/cli"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/kubeserver"
	"github.com/portico-gw/portico/internal/provider/file"
	"github.com/portico-gw/portico/internal/proxy/budget"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/runner"
	"github.com/portico-gw/portico/internal/wasm"
)

func newRunCommand() *cobra.Command {
	var (
		configPath, adminAddr, xdsAddr, dataPlane, listenerAddr, demoBackend, envoyPath, logLevel, namespace, stateDir string
		kubeconfig                                                                                                     string
		wasmAddr, wasmCacheDir                                                                                         string
		paths                                                                                                          []string
		debounce                                                                                                       time.Duration
		luaLimits                                                                                                      budget.Limits
	)
	cmd := &cobra.Command{
		Use:   "run [--config envoy-gateway.yaml] [-f FILE|DIR ...]",
		Short: "Run the control plane and its proxies on this host, configured from files",
		Long: `Run serves Gateway API and Envoy Gateway resources read from files. The files are
watched: an edit is applied once the files are quiet, and an edit with problems is
rejected (reported in the log and in /status) while the last good configuration
keeps serving.

One proxy is started per Gateway (per GatewayClass when it merges gateways): by
default the built-in proxy as a child process ('portico proxy', from this
executable), restarted with back-off if it dies, so that a data plane crash never
takes the control plane down; --data-plane in-process runs it inside this process
instead, envoy runs an envoy binary from PATH, and none starts nothing (run
'portico proxy' yourself).

Proxies reach the xDS server (--xds-address) over mutual TLS. The CA and the
certificates are made on first start and kept in --state-dir (certs/envoy-gateway
and certs/envoy, each with ca.crt, tls.crt and tls.key, as Envoy Gateway's certgen
makes them); a client without a certificate signed by that CA gets nothing.

Admin endpoints (--admin-address): /healthz, /readyz, /status, /config_dump, /metrics.

Objects that name no namespace go to -n (default "default"), as with kubectl apply.

A Service with no EndpointSlice, no clusterIP and no externalName (Envoy Gateway's
quickstart: a cluster would assign them) has no address here: the routes using it
report ResolvedRefs=False and answer 500. --demo-backend ADDR starts a small echo
server on ADDR (a JSON echo of the request, like the Gateway API conformance echo
server) that stands in for every such Service, so that
  portico run -f examples/quickstart --demo-backend 127.0.0.1:3000
  curl -H 'Host: www.example.com' http://127.0.0.1:10080/
works on a machine with nothing else installed.

Stop it with Ctrl-C (SIGINT) or SIGTERM: proxies, the demo backend and the servers
shut down and the ports are released.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := cli.NewLogger(logLevel)
			if err != nil {
				return err
			}
			var cfg *egv1a1.EnvoyGateway
			if configPath != "" {
				if cfg, err = resource.LoadConfig(configPath); err != nil {
					return fmt.Errorf("%s: %w", configPath, err)
				}
				if !cmd.Flags().Changed("admin-address") && cfg.Admin != nil && cfg.Admin.Address != nil {
					a := cfg.Admin.Address
					h, p := a.Host, a.Port
					if h == "" {
						h = "127.0.0.1"
					}
					if p == 0 {
						p = 19000
					}
					adminAddr = net.JoinHostPort(h, strconv.Itoa(p))
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			standIn := ""
			if demoBackend != "" {
				if standIn, err = startDemoBackend(ctx, demoBackend, log); err != nil {
					return fmt.Errorf("--demo-backend: %w", err)
				}
				log.Info("demo backend listening; it serves every Service without an address", "address", standIn)
			}
			if stateDir == "" {
				if stateDir = runner.ConfigStateDir(cfg); stateDir == "" {
					stateDir = runner.DefaultStateDir()
				}
			}
			if cfg != nil && cfg.Provider != nil && cfg.Provider.Type == egv1a1.ProviderTypeKubernetes {
				// Resources and status in the cluster of the kubeconfig,
				// proxies on this host as --data-plane says.
				rc, err := restConfig(kubeconfig)
				if err != nil {
					return err
				}
				return kubeserver.Run(ctx, kubeserver.Options{ConfigPath: configPath, RestConfig: rc,
					Namespace: kubeserver.Namespace(), XDSAddress: xdsAddr, AdminAddress: adminAddr,
					DataPlane: dataPlane, ListenerAddress: listenerAddr, StateDir: stateDir, Logger: log,
					WasmAddress: wasmAddr, WasmCacheDir: wasmCacheDir})
			}
			r, err := runner.New(runner.Options{Config: cfg, Paths: paths, XDSAddress: xdsAddr, AdminAddress: adminAddr,
				DataPlane: dataPlane, EnvoyPath: envoyPath, ListenerAddress: listenerAddr, Debounce: debounce, Logger: log,
				Namespace: namespace, ServiceStandIn: standIn, StateDir: stateDir, LuaLimits: luaLimits, ProxyLogLevel: logLevel,
				WasmAddress: wasmAddr, WasmCacheDir: wasmCacheDir})
			if err != nil {
				return err
			}
			if err := r.Start(ctx); err != nil {
				return err
			}
			<-r.Done()
			return r.Err()
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "Envoy Gateway configuration file (EnvoyGateway); its provider.custom.resource.file.paths are watched")
	f.StringArrayVarP(&paths, "file", "f", nil, "file or folder of resources to serve and watch (repeatable)")
	f.StringVar(&adminAddr, "admin-address", runner.DefaultAdminAddress, "admin HTTP server address")
	f.StringVar(&xdsAddr, "xds-address", runner.DefaultXDSAddress, "xDS (ADS gRPC) server address")
	f.StringVar(&dataPlane, "data-plane", host.Builtin, "proxies to start: builtin (child processes), in-process, envoy (binary on PATH) or none")
	f.StringVar(&stateDir, "state-dir", "", "where the certificates are kept (default: the config's provider.custom.infrastructure.host.configHome, else "+runner.DefaultStateDir()+")")
	f.StringVar(&envoyPath, "envoy-path", "", "envoy binary for --data-plane envoy (default: envoy on PATH)")
	f.StringVar(&listenerAddr, "listener-address", "", "address Gateway listeners bind instead of 0.0.0.0 (e.g. 127.0.0.1)")
	f.StringVar(&demoBackend, "demo-backend", "", "start a JSON echo backend on this address (e.g. 127.0.0.1:3000) standing in for every Service without an address")
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace for objects that set none (kubectl apply's default)")
	f.StringVar(&wasmAddr, "wasm-address", wasm.DefaultServerAddress, "address of the server proxies download Wasm modules from")
	f.StringVar(&wasmCacheDir, "wasm-cache-dir", "", "where downloaded Wasm modules are kept (default: the user cache dir's portico/wasm)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&kubeconfig, "kubeconfig", "", "with provider.type Kubernetes in --config: the kubeconfig (default: KUBECONFIG, ~/.kube/config)")
	f.DurationVar(&debounce, "debounce", file.DefaultDebounce, "how long the files must be quiet before an edit is applied (raise it for writers that pause mid-change)")
	cli.LuaLimitFlags(f, &luaLimits)
	return cmd
}

// startDemoBackend serves the echo handler on addr until ctx ends.
func startDemoBackend(ctx context.Context, addr string, log *slog.Logger) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: echoHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo backend stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return l.Addr().String(), nil
}

// echoHandler answers every request with a JSON description of it, in the
// shape of the Gateway API conformance echo server (echo-basic), so tests
// and curl users see what the proxy forwarded.
func echoHandler() http.Handler {
	pod, _ := os.Hostname()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers := map[string][]string{}
		for k, v := range r.Header {
			headers[k] = v
		}
		body := map[string]any{
			"path":      r.URL.RequestURI(),
			"host":      r.Host,
			"method":    r.Method,
			"proto":     r.Proto,
			"headers":   headers,
			"namespace": "default",
			"ingress":   "",
			"service":   "portico-demo-backend",
			"pod":       pod,
		}
		if strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			body["upgrade"] = r.Header.Get("Upgrade")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		_ = enc.Encode(body)
	})
}
