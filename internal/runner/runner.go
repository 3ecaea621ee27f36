// Package runner is Portico's standalone runtime (`portico run`). It wires
// the stages in one direction:
//
//	file provider -> resource.Set -> gatewayapi.Translate -> xds translator
//	  -> xds server snapshot (one per fleet) -> proxies (host infra)
//	proxy ACK/NACK -> Gateway Programmed -> status store -> admin /status
//
// It is the only place with goroutines and clocks; every stage it calls is
// a function of its input. All mutable state is owned by one loop
// goroutine; the admin server reads an immutable view it publishes.
package runner

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/test/bufconn"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/extension"
	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/provider"
	"github.com/portico-gw/portico/internal/provider/file"
	"github.com/portico-gw/portico/internal/proxy/budget"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/status"
	"github.com/portico-gw/portico/internal/wasm"
	xdsserver "github.com/portico-gw/portico/internal/xds/server"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Defaults of `portico run`, Envoy Gateway's ports.
const (
	DefaultXDSAddress   = "127.0.0.1:18000"
	DefaultAdminAddress = "127.0.0.1:19000"
)

// Options configure a Runner.
type Options struct {
	// Config is the EnvoyGateway configuration (nil: defaults). Its
	// provider.custom.resource.file.paths are watched along with Paths.
	Config *egv1a1.EnvoyGateway
	// Paths are more files or folders to watch (`-f`).
	Paths []string
	// XDSAddress and AdminAddress are where to listen (":0" ports work;
	// see XDSAddr and AdminAddr).
	XDSAddress, AdminAddress string
	// DataPlane is host.Builtin (default: child processes), host.InProcess,
	// host.Envoy or host.None.
	DataPlane string
	// StateDir keeps the certificates (certs/) proxies and the control
	// plane authenticate each other with; created on first start. Empty:
	// a temporary one, removed on stop (tests).
	StateDir string
	// XDSCertDir, when set, holds the xDS server's own certificate (ca.crt,
	// tls.crt, tls.key: the envoy-gateway Secret `portico certgen` makes,
	// mounted in a cluster); nothing is generated then.
	XDSCertDir string
	// ProxyCommand starts child proxies for host.Builtin (default: this
	// executable with "proxy"; see cli.RunChildProxy for test binaries).
	ProxyCommand []string
	// ProxyLog receives child proxies' own logs (nil: stderr), at
	// ProxyLogLevel ("": info).
	ProxyLog      io.Writer
	ProxyLogLevel string
	// LuaLimits bound the built-in proxies' Lua script calls.
	LuaLimits budget.Limits
	// ExtensionCallTimeout bounds each extension server call (0: the
	// extension package's default).
	ExtensionCallTimeout time.Duration
	// EnvoyPath overrides the envoy binary for host.Envoy.
	EnvoyPath string
	// ListenerAddress, when set, replaces the address Gateway listeners
	// bind (0.0.0.0 as translated), e.g. 127.0.0.1 on a shared machine.
	ListenerAddress string
	// KeepReadyListener keeps the IR's readiness listener (0.0.0.0:19003).
	// It is dropped by default: on one host every fleet would claim the
	// same port, and /readyz on the admin server answers the question.
	KeepReadyListener bool
	// Debounce is the file provider's quiet period (0: its default).
	Debounce time.Duration
	// Namespace is given to namespaced objects that name none (default
	// "default", as kubectl apply does).
	Namespace string
	// ServiceStandIn, when set, is the host:port that serves every Service
	// whose endpoints cannot be known without a cluster (--demo-backend);
	// without it such a Service is reported on the routes that use it.
	ServiceStandIn string
	// ProxyAccessLog receives built-in proxies' access logs (nil: stdout).
	ProxyAccessLog io.Writer
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// Now is the clock for condition transition times (nil: time.Now).
	Now func() time.Time
	// WasmAddress is the wasm server's address (wasm.DefaultServerAddress).
	WasmAddress string
	// WasmServer is how the proxies reach the wasm server. Nil: at
	// WasmAddress with the state directory's proxy certificate files
	// (proxies on this host); proxy pods instead reach the control plane's
	// Service with the certificates mounted in the pod.
	WasmServer *ir.WasmServer
	// WasmCacheDir is the on-disk module cache (wasm.DefaultCacheDir()).
	WasmCacheDir string
	// WasmWait bounds how long a translation waits for downloads
	// (DefaultWasmWait); WasmRetry is the first background retry delay
	// of a failed module (wasm.DefaultRetryBase).
	WasmWait, WasmRetry time.Duration
	// WasmFetch sets the download limits (zero fields: Envoy Gateway's).
	WasmFetch wasm.Fetcher

	// InCluster says the input comes from a cluster (the Kubernetes
	// provider): a Service without endpoints is one whose pods are not
	// ready yet, not one nothing can resolve.
	InCluster bool
	// KubernetesInfrastructure says the proxies' Kubernetes objects are
	// made from the translation (portico server): EnvoyProxy's Kubernetes
	// settings take effect, loopback Backends do not.
	KubernetesInfrastructure bool
	// Provider replaces the file provider of Paths as the input (the
	// Kubernetes provider); Paths and the config's file paths are then
	// ignored. The hooks below let a cluster runtime take the results
	// without the runner knowing about clusters (see hooks.go).
	Provider Provider
	Hooks    Hooks
}

// Runner is a running control plane.
type Runner struct {
	opts     Options
	log      *slog.Logger
	cfg      *egv1a1.EnvoyGateway
	metrics  *metrics
	server   *xdsserver.Server
	provider Provider
	store    *status.Store
	infra    *host.Infra

	xdsLn, adminLn net.Listener
	localLn        *bufconn.Listener // in-process proxies' xDS (host.InProcess)
	stateDir       string
	removeState    bool
	infraChanged   chan struct{}
	view           atomic.Pointer[view]
	done           chan struct{}
	errMu          sync.Mutex
	err            error

	// translate is pipeline.Run (a field so tests can break it).
	translate func(context.Context, *resource.Set, *egv1a1.EnvoyGateway, pipeline.Options) *pipeline.Result
	// memo carries translator output between reloads (loop goroutine).
	memo *pipeline.Memo

	// Owned by the loop goroutine (and by Start before the loop runs).
	last   provider.Update
	result *pipeline.Result
	fleets map[string]*fleet
	gauged map[string]bool // fleets with a connected-proxies series
	// ext is the extension server chain (nil: none); see extension.go.
	ext *extension.Manager
	// retry re-translates fleets an extension server failed (retry.go).
	retry retrier
	// wasm holds the Wasm modules the policies use; see wasm.go.
	wasm        *wasm.Store
	wasmLn      net.Listener
	wasmChanged chan struct{}
}

// fleet is the runtime state of one snapshot key.
type fleet struct {
	// version and resources are what is being served (the last good).
	version   string
	resources *xdstypes.Resources
	// err is why the latest translation was not served ("" when it was).
	err string
	// extFailed is true when err is an extension server's failure, which
	// a later attempt may not have.
	extFailed bool
	// xlateErrs are IR objects the xDS translator left out.
	xlateErrs []string
	// patches are the EnvoyPatchPolicies applied to it, with the resources
	// each one changed.
	patches []appliedPatch
	// ready turns true the first time a proxy serves a version (sticky).
	ready bool
}

// New validates the options. Nothing listens until Start.
func New(o Options) (*Runner, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.XDSAddress == "" {
		o.XDSAddress = DefaultXDSAddress
	}
	if o.AdminAddress == "" {
		o.AdminAddress = DefaultAdminAddress
	}
	if o.DataPlane == "" {
		o.DataPlane = host.Builtin
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	cfg := o.Config
	if cfg == nil {
		// Empty is the default: the translator fills in the controller name.
		cfg = &egv1a1.EnvoyGateway{}
	}
	paths := append(ConfigPaths(cfg), o.Paths...)
	if len(paths) == 0 && o.Provider == nil {
		return nil, errors.New("no input: give -f FILE|DIR or a --config with provider.custom.resource.file.paths")
	}
	r := &Runner{opts: o, log: o.Logger, cfg: cfg, metrics: newMetrics(), fleets: map[string]*fleet{}, gauged: map[string]bool{}, done: make(chan struct{}),
		translate: pipeline.Run, memo: pipeline.NewMemo(), stateDir: o.StateDir, infraChanged: make(chan struct{}, 1)}
	r.metrics.reg.MustRegister(newProcessCollector(func() *host.Infra { return r.infra }))
	r.server = xdsserver.New(xdsserver.Options{Logger: o.Logger.With("component", "xds"), OnNACK: func(f string, n xdsserver.NACK) {
		r.metrics.nacks.WithLabelValues(f, shortType(n.TypeURL)).Inc()
	}})
	r.provider = o.Provider
	if r.provider == nil {
		r.provider = file.New(file.Options{Paths: paths, Debounce: o.Debounce, Logger: o.Logger.With("component", "provider"),
			LoadOptions: append(extension.LoadOptions(cfg), resource.WithDefaultNamespace(o.Namespace))})
	}
	if err := r.setupExtensions(); err != nil {
		return nil, err
	}
	r.store = status.NewStore(o.Now, o.Logger.With("component", "status"))
	return r, nil
}

// ConfigPaths returns the file provider paths of an EnvoyGateway config.
func ConfigPaths(cfg *egv1a1.EnvoyGateway) []string {
	if cfg == nil || cfg.Provider == nil || cfg.Provider.Custom == nil || cfg.Provider.Custom.Resource.File == nil {
		return nil
	}
	return append([]string(nil), cfg.Provider.Custom.Resource.File.Paths...)
}

// XDSAddr and AdminAddr are the bound addresses (after Start).
func (r *Runner) XDSAddr() string   { return r.xdsLn.Addr().String() }
func (r *Runner) AdminAddr() string { return r.adminLn.Addr().String() }

// Gatherer is the runner's Prometheus registry (what the admin /metrics
// serves).
func (r *Runner) Gatherer() prometheus.Gatherer { return r.metrics.reg }

// Done is closed when the runner has stopped; Err says why.
func (r *Runner) Done() <-chan struct{} { return r.done }

// Err is the error that stopped the runner (nil after a normal shutdown).
func (r *Runner) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

func (r *Runner) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
}

// prepare makes sure of the certificates, binds the xDS and admin
// listeners, builds the host infrastructure and loads the input. On error
// nothing is left open (nor a temporary state directory).
func (r *Runner) prepare() (xdsTLS *tls.Config, err error) {
	defer func() {
		if err == nil {
			return
		}
		for _, l := range []net.Listener{r.xdsLn, r.adminLn, r.wasmLn} {
			if l != nil {
				l.Close()
			}
		}
		if r.removeState {
			os.RemoveAll(r.stateDir)
		}
	}()
	if xdsTLS, err = r.setupCerts(); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if r.xdsLn, err = net.Listen("tcp", r.opts.XDSAddress); err != nil {
		return nil, fmt.Errorf("xds server: %w", err)
	}
	if r.adminLn, err = net.Listen("tcp", r.opts.AdminAddress); err != nil {
		return nil, fmt.Errorf("admin server: %w", err)
	}
	if err = r.listenWasm(); err != nil {
		return nil, err
	}
	hostOpts := host.Options{DataPlane: r.opts.DataPlane, XDSAddress: r.XDSAddr(), CertsDir: CertsDir(r.stateDir),
		ProxyCommand: r.opts.ProxyCommand, EnvoyPath: r.opts.EnvoyPath, RuntimeDir: runtimeDir(r.cfg),
		AccessLog: r.opts.ProxyAccessLog, ProxyStderr: r.opts.ProxyLog, ProxyLogLevel: r.opts.ProxyLogLevel, Logger: r.log.With("component", "infra"),
		LuaLimits: r.opts.LuaLimits, OnChange: r.signalInfra, ProxyAdminDir: filepath.Join(r.stateDir, "proxies")}
	if r.opts.DataPlane == host.InProcess {
		r.localLn = inProcessListener()
		hostOpts.XDSDialer = dialer(r.localLn)
	}
	if r.infra, err = host.New(hostOpts); err != nil {
		return nil, err
	}
	if r.opts.DataPlane == host.InProcess {
		r.metrics.reg.MustRegister(proxyStats{read: r.infra.ProxyStats})
	}
	return xdsTLS, nil
}

// Start binds the xDS and admin servers, loads and serves the input, starts
// the proxies and returns; everything runs until ctx ends (see Done). It
// fails when an address cannot be bound or the input cannot be read at all.
func (r *Runner) Start(ctx context.Context) error {
	xdsTLS, err := r.prepare()
	if err != nil {
		return err
	}
	first := r.provider.Load()
	if first.Set == nil {
		r.xdsLn.Close()
		r.adminLn.Close()
		r.wasmLn.Close()
		if r.removeState {
			os.RemoveAll(r.stateDir)
		}
		return fmt.Errorf("loading input: %w", first.Err)
	}
	r.publish()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	run := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				r.log.Error("stopped", "component", name, "err", err)
				r.fail(fmt.Errorf("%s: %w", name, err))
				cancel()
			}
		}()
	}
	if err := r.startWasm(ctx, xdsTLS, run); err != nil {
		cancel()
		r.xdsLn.Close()
		r.adminLn.Close()
		r.wasmLn.Close()
		return err
	}
	run("xds", func() error { return r.server.Serve(ctx, r.xdsLn, xdsTLS) })
	if r.localLn != nil {
		// In-process proxies only: the listener is not a socket.
		run("xds-local", func() error { return r.server.Serve(ctx, r.localLn, nil) })
	}
	adminSrv := &http.Server{Handler: admin.Handler(admin.Options{Source: r, Gatherer: r.metrics.reg,
		Pprof: r.cfg.Admin != nil && r.cfg.Admin.EnablePprof}), ReadHeaderTimeout: 10 * time.Second}
	run("admin", func() error {
		if err := adminSrv.Serve(r.adminLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	r.log.Info("control plane listening", "xds", r.XDSAddr(), "admin", r.AdminAddr(), "dataPlane", r.opts.DataPlane)

	updates := make(chan provider.Update)
	r.apply(ctx, first)
	run("provider", func() error {
		return r.provider.Run(ctx, func(u provider.Update) {
			select {
			case updates <- u:
			case <-ctx.Done():
			}
		})
	})
	go func() {
		r.loop(ctx, updates)
		cancel()
		r.infra.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = adminSrv.Shutdown(sctx)
		scancel()
		wg.Wait()
		if r.removeState {
			os.RemoveAll(r.stateDir)
		}
		close(r.done)
	}()
	return nil
}

func (r *Runner) loop(ctx context.Context, updates <-chan provider.Update) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			r.apply(ctx, u)
		case <-r.server.Changed():
			r.publish()
		case <-r.opts.Hooks.Republish:
			r.publish()
		case <-r.infraChanged:
			r.publish()
		case <-r.retry.due():
			r.retryFailed(ctx)
		case <-r.wasmChanged:
			// A Wasm module was downloaded at last (or failed): translate
			// the last applied set again.
			if r.last.Applied && r.last.Set != nil {
				r.serve(ctx, r.last.Set)
			}
		}
	}
}

// signalInfra wakes the loop after a proxy process started or exited.
func (r *Runner) signalInfra() {
	select {
	case r.infraChanged <- struct{}{}:
	default:
	}
}

// apply serves a provider update: a new set is translated and pushed; a
// rejected one is only reported, the last good snapshots keep serving.
func (r *Runner) apply(ctx context.Context, u provider.Update) {
	r.last = u
	for _, p := range u.Problems {
		r.log.Warn("input problem", "problem", p.String())
	}
	if !u.Applied {
		r.metrics.reloads.WithLabelValues("rejected").Inc()
		r.log.Error("configuration not applied; the last good one keeps serving", "generation", u.Generation, "err", u.Err)
		r.publish()
		return
	}
	if u.Err != nil {
		r.log.Warn("edits applied except the held files, whose last good version keeps serving", "generation", u.Generation,
			"held", u.Held, "err", u.Err)
	}
	if r.serve(ctx, u.Set) {
		r.metrics.reloads.WithLabelValues("applied").Inc()
	} else {
		r.metrics.reloads.WithLabelValues("rejected").Inc()
	}
}

// serve translates set and serves each fleet; it reports whether the
// translation ran (a panic in a stage is recovered and reported).
func (r *Runner) serve(ctx context.Context, set *resource.Set) bool {
	start := time.Now()
	modules, wasmServer := r.wasmModules(ctx, set)
	result, err := safely(r.log, func() *pipeline.Result {
		return r.translate(ctx, set, r.cfg, pipeline.Options{Extensions: r.extensionHooks(), Memo: r.memo,
			Standalone: !r.opts.InCluster, ServiceStandIn: r.opts.ServiceStandIn, Wasm: modules, WasmServer: wasmServer,
			KubernetesInfrastructure: r.opts.KubernetesInfrastructure})
	})
	if err != nil {
		// A translator bug must not take the proxies down with it.
		r.last.Applied, r.last.Err = false, err
		r.log.Error("translation failed; the last good configuration keeps serving", "generation", r.last.Generation, "err", err)
		r.publish()
		return false
	}
	r.metrics.translation.Observe(time.Since(start).Seconds())
	r.result = result
	keys := make([]string, 0, len(result.Fleets))
	for _, pf := range result.Fleets {
		keys = append(keys, pf.Key)
		f := r.fleets[pf.Key]
		if f == nil {
			f = &fleet{}
			r.fleets[pf.Key] = f
		}
		r.serveFleet(ctx, f, pf)
	}
	for key := range r.fleets {
		if result.Fleet(key) == nil {
			r.log.Info("fleet removed", "fleet", key)
			r.server.RemoveFleet(key)
			delete(r.fleets, key)
		}
	}
	r.infra.Ensure(ctx, keys)
	if r.opts.Hooks.Translated != nil {
		r.opts.Hooks.Translated(result)
	}
	r.scheduleRetry()
	r.publish()
	return true
}

// serveFleet replaces a fleet's snapshot with the translation when it is
// consistent; otherwise the last good snapshot keeps serving.
func (r *Runner) serveFleet(ctx context.Context, f *fleet, pf *pipeline.Fleet) {
	key := pf.Key
	f.xlateErrs = pf.Errors
	for _, e := range f.xlateErrs {
		r.log.Warn("left out of the xDS", "fleet", key, "err", e)
	}
	if pf.Resources == nil {
		f.err = "the xDS translation produced nothing"
		if pf.ExtensionError != "" {
			f.err, f.extFailed = pf.ExtensionError, true
		}
		r.metrics.snapErrors.WithLabelValues(key).Inc()
		return
	}
	f.extFailed = false
	res := hostAdjust(pf.Resources, pf.IR, r.opts.ListenerAddress, r.opts.KeepReadyListener)
	set, err := r.server.SetSnapshot(ctx, key, res.ByType())
	if err != nil {
		f.err = err.Error()
		r.metrics.snapErrors.WithLabelValues(key).Inc()
		r.log.Error("snapshot refused; the last good one keeps serving", "fleet", key, "serving", f.version, "err", err)
		return
	}
	f.err = ""
	f.patches = f.patches[:0]
	for _, p := range pf.Patches {
		f.patches = append(f.patches, appliedPatch{name: p.Namespace + "/" + p.Name, touched: p.Touched})
	}
	if set.Changed {
		f.version, f.resources = set.Version, res
		r.metrics.pushes.WithLabelValues(key).Inc()
		r.log.Info("snapshot set", "fleet", key, "version", set.Version, "listeners", len(res.Listeners),
			"routes", len(res.Routes), "clusters", len(res.Clusters))
	}
}

// safely runs a translation stage, turning a panic into an error with the
// stack logged: a bug in a translator costs one update, not the process.
func safely[T any](log *slog.Logger, fn func() T) (out T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
			log.Error("translation panic", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	return fn(), nil
}

func runtimeDir(cfg *egv1a1.EnvoyGateway) string {
	if cfg.Provider != nil && cfg.Provider.Custom != nil && cfg.Provider.Custom.Infrastructure != nil &&
		cfg.Provider.Custom.Infrastructure.Host != nil && cfg.Provider.Custom.Infrastructure.Host.RuntimeDir != nil {
		return *cfg.Provider.Custom.Infrastructure.Host.RuntimeDir
	}
	return ""
}

// shortType turns a type URL into Envoy's short name (LDS, RDS, ...).
func shortType(url string) string {
	switch {
	case strings.HasSuffix(url, ".Listener"):
		return "LDS"
	case strings.HasSuffix(url, ".RouteConfiguration"):
		return "RDS"
	case strings.HasSuffix(url, ".Cluster"):
		return "CDS"
	case strings.HasSuffix(url, ".ClusterLoadAssignment"):
		return "EDS"
	case strings.HasSuffix(url, ".Secret"):
		return "SDS"
	}
	return url
}
