// Package kubeserver runs Portico as a Kubernetes controller: the
// Kubernetes provider feeds the runner (the same pipeline and xDS server as
// `portico run`), the leader writes the statuses the runner publishes and
// applies the proxies' Kubernetes objects, and every replica serves xDS.
//
// The EnvoyGateway configuration file (the envoy-gateway-config ConfigMap
// mounted at /config) is watched: a valid change restarts everything with
// the new configuration, as Envoy Gateway restarts its runners; an invalid
// one is logged and the running configuration kept.
package kubeserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/infra/host"
	kubeinfra "github.com/portico-gw/portico/internal/infra/kubernetes"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/provider/kubernetes"
	"github.com/portico-gw/portico/internal/runner"
	"github.com/portico-gw/portico/internal/status"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
)

// Options configure a Server.
type Options struct {
	// ConfigPath is the EnvoyGateway file, watched (missing: defaults).
	ConfigPath string
	// Config is used when ConfigPath is empty (nil: defaults).
	Config *egv1a1.EnvoyGateway
	// RestConfig reaches the API server.
	RestConfig *rest.Config
	// Namespace is the control plane's (kubernetes.DefaultNamespace).
	Namespace string
	// XDSAddress, AdminAddress and HealthAddress are where to listen
	// (HealthAddress "" serves no health endpoints).
	XDSAddress, AdminAddress, HealthAddress string
	// MetricsAddress serves Prometheus text at /metrics (the chart's
	// 19001); empty: none.
	MetricsAddress string
	// Infrastructure applies the proxies' Kubernetes objects (`portico
	// server`). Without it proxies run as DataPlane says, on this host
	// (`portico run` with a Kubernetes provider, from a laptop).
	Infrastructure bool
	// DataPlane, ListenerAddress and StateDir are runner.Options' (no
	// Infrastructure: proxies on this host, with certificates the runner
	// keeps in StateDir).
	DataPlane, ListenerAddress, StateDir string
	// WasmAddress and WasmCacheDir are runner.Options' (the wasm port
	// proxies fetch modules from, and the module cache).
	WasmAddress, WasmCacheDir string
	// CertsDir holds the xDS server's certificate (with Infrastructure:
	// the envoy-gateway Secret, mounted at /certs).
	CertsDir string
	// Debounce overrides the provider's.
	Debounce time.Duration
	// ExtensionCallTimeout is runner.Options'.
	ExtensionCallTimeout time.Duration
	// LeaderElection overrides the configuration's.
	LeaderElection *kubernetes.LeaderElection
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// Started, when set, receives each instance once it serves (tests).
	Started func(*Instance)
}

// Run serves until ctx ends, restarting on configuration changes and after
// a failure (the Lease lost while the API server was away). It returns an
// error only when the first start fails (no API server, a bad config).
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Namespace == "" {
		o.Namespace = kubernetes.DefaultNamespace
	}
	cfg, raw, err := loadConfig(o)
	if err != nil {
		return err
	}
	var health *healthServer
	if o.HealthAddress != "" {
		if health, err = startHealth(ctx, o.HealthAddress, o.Logger); err != nil {
			return err
		}
	}
	var metrics *metricsServer
	if o.MetricsAddress != "" {
		if metrics, err = startMetrics(ctx, o.MetricsAddress, o.Logger); err != nil {
			return err
		}
	}
	changes := make(chan configChange, 1)
	if o.ConfigPath != "" {
		go watchConfig(ctx, o.ConfigPath, raw, changes, o.Logger.With("component", "config"))
	}
	backoff := time.Duration(0)
	for first := true; ; first = false {
		ictx, stop := context.WithCancel(ctx)
		inst, err := start(ictx, o, cfg)
		if err != nil {
			stop()
			if first || ctx.Err() != nil {
				return err
			}
			// The API server went away under a running control plane:
			// keep trying, as a restarted pod would.
			backoff = nextBackoff(backoff)
			o.Logger.Error("control plane did not start; trying again", "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			continue
		}
		if health != nil {
			health.set(inst)
		}
		if metrics != nil {
			metrics.set(inst)
		}
		if o.Started != nil {
			o.Started(inst)
		}
		select {
		case <-ctx.Done():
			stop()
			inst.wait()
			return nil
		case <-inst.failed:
			// Losing the Lease (the API server unreachable past the renew
			// deadline) stops Envoy Gateway's process and its pod
			// restarts; this restarts in-process instead, so the proxies'
			// xDS server is back within a second.
			stop()
			inst.wait()
			backoff = nextBackoff(backoff)
			o.Logger.Error("control plane stopped; restarting", "err", inst.err(), "in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
		case c := <-changes:
			o.Logger.Info("configuration changed: restarting", "path", o.ConfigPath)
			stop()
			inst.wait()
			cfg, backoff = c.cfg, 0
		}
	}
}

// nextBackoff doubles from 500 ms up to 30 s.
func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 500 * time.Millisecond
	}
	return min(2*d, 30*time.Second)
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// Instance is one run under one configuration.
type Instance struct {
	Config   *egv1a1.EnvoyGateway
	Provider *kubernetes.Provider
	Runner   *runner.Runner
	Status   *kubernetes.StatusWriter
	Infra    *kubeinfra.Infra
	// MetricsAddr is where /metrics is served ("" without MetricsAddress).
	MetricsAddr string

	failed  chan struct{}
	failure atomic.Pointer[error]
	done    []<-chan struct{}
}

func (i *Instance) fail(err error) {
	if i.failure.CompareAndSwap(nil, &err) {
		close(i.failed)
	}
}

func (i *Instance) err() error {
	if e := i.failure.Load(); e != nil {
		return *e
	}
	return nil
}

func (i *Instance) wait() {
	for _, d := range i.done {
		<-d
	}
}

// start starts the provider (and waits for its informers), the status
// writer, the infrastructure and the runner.
func start(ctx context.Context, o Options, cfg *egv1a1.EnvoyGateway) (*Instance, error) {
	log := o.Logger
	popts := kubernetes.Options{Config: o.RestConfig, Namespace: o.Namespace, Debounce: o.Debounce,
		ExtensionKinds: extensionKinds(cfg), Logger: log.With("component", "provider")}
	if o.LeaderElection != nil {
		popts.LeaderElection = *o.LeaderElection
	} else {
		popts.LeaderElection = leaderElection(cfg)
	}
	p, err := kubernetes.New(popts)
	if err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	inst := &Instance{Config: cfg, Provider: p, failed: make(chan struct{})}
	inst.done = append(inst.done, p.Done())
	go func() {
		<-p.Done()
		if p.Err() != nil {
			inst.fail(fmt.Errorf("kubernetes provider: %w", p.Err()))
		}
	}()
	inst.Status = kubernetes.NewStatusWriter(p, cfg.Gateway.ControllerName, log.With("component", "status-writer"))
	inst.done = append(inst.done, goRun(ctx, inst, "status writer", inst.Status.Run))

	ropts := runner.Options{Config: cfg, Provider: p, InCluster: true, XDSAddress: o.XDSAddress, AdminAddress: o.AdminAddress,
		Logger: log, DataPlane: o.DataPlane, ListenerAddress: o.ListenerAddress, StateDir: o.StateDir, XDSCertDir: o.CertsDir,
		WasmAddress: o.WasmAddress, WasmCacheDir: o.WasmCacheDir, ExtensionCallTimeout: o.ExtensionCallTimeout}
	overlays := []func(*gatewayapi.Result, func(*gwapiv1.Gateway) string){}
	if o.Infrastructure {
		// Proxy pods download modules from the control plane's Service,
		// with the certificates their pod mounts (Envoy Gateway's
		// wasm_cluster, but with the key read from the mount, not xDS).
		ropts.WasmServer = &ir.WasmServer{Host: kubeinfra.ControlPlaneHost(o.Namespace, ""), Port: kubeinfra.WasmServicePort,
			TLS: runner.ProxyCertFiles(kubeinfra.ProxyCertsDir)}
		ropts.DataPlane = host.None
		ropts.KeepReadyListener = true
		ropts.KubernetesInfrastructure = true
		inst.Infra = kubeinfra.New(kubeinfra.Options{Client: p.Client(), Reader: p.Client(), APIReader: p.APIReader(),
			RestConfig: o.RestConfig, Scheme: p.Scheme(),
			Namespace: o.Namespace, Config: cfg, Elected: p.Elected(), Logger: log.With("component", "infrastructure")})
		inst.done = append(inst.done, goRun(ctx, inst, "infrastructure", inst.Infra.Run))
		ropts.Hooks.Translated = inst.Infra.Translated
		ropts.Hooks.Republish = inst.Infra.Changed()
		overlays = append(overlays, inst.Infra.Overlay)
	}
	ropts.Hooks.Overlay = func(res *gatewayapi.Result, fleetOf func(*gwapiv1.Gateway) string) {
		for _, ov := range overlays {
			ov(res, fleetOf)
		}
	}
	ropts.Hooks.Published = func(items []status.Object) { inst.Status.Publish(items) }
	r, err := runner.New(ropts)
	if err != nil {
		return nil, err
	}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	inst.Runner = r
	inst.done = append(inst.done, r.Done())
	go func() {
		<-r.Done()
		if err := r.Err(); err != nil {
			inst.fail(err)
		}
	}()
	return inst, nil
}

// goRun runs fn until ctx ends; an error fails the instance.
func goRun(ctx context.Context, inst *Instance, name string, fn func(context.Context) error) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(ctx); err != nil {
			inst.fail(fmt.Errorf("%s: %w", name, err))
		}
	}()
	return done
}

// extensionKinds are every extension manager's kinds, watched unstructured.
func extensionKinds(cfg *egv1a1.EnvoyGateway) []k8sschema.GroupVersionKind {
	var out []k8sschema.GroupVersionKind
	managers := cfg.ExtensionManagers
	if cfg.ExtensionManager != nil {
		managers = append(managers, cfg.ExtensionManager)
	}
	for _, m := range managers {
		for _, list := range [][]egv1a1.GroupVersionKind{m.Resources, m.PolicyResources, m.BackendResources} {
			for _, g := range list {
				out = append(out, k8sschema.GroupVersionKind{Group: g.Group, Version: g.Version, Kind: g.Kind})
			}
		}
	}
	return out
}

// healthServer answers /healthz (the process is up) and /readyz (the
// current instance's runner is ready) on the chart's probe port.
type healthServer struct {
	inst atomic.Pointer[Instance]
}

func (h *healthServer) set(i *Instance) { h.inst.Store(i) }

func startHealth(ctx context.Context, addr string, log *slog.Logger) (*healthServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health server: %w", err)
	}
	h := &healthServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		i := h.inst.Load()
		if i == nil || i.Runner == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		// Ready as Envoy Gateway is: serving xDS with the cluster's
		// configuration; proxies may not have connected yet.
		fmt.Fprintln(w, "ok")
	})
	serveHTTP(ctx, ln, mux, log, "health server")
	return h, nil
}

// serveHTTP serves handler on ln until ctx ends.
func serveHTTP(ctx context.Context, ln net.Listener, handler http.Handler, log *slog.Logger, name string) {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
}

// Namespace is the control plane's namespace from the environment, as
// Envoy Gateway's chart sets it (ENVOY_GATEWAY_NAMESPACE).
func Namespace() string {
	if ns := os.Getenv("ENVOY_GATEWAY_NAMESPACE"); ns != "" {
		return ns
	}
	return kubernetes.DefaultNamespace
}
