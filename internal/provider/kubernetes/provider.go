// Package kubernetes is the Kubernetes provider: it watches the API server
// for every kind the pipeline reads and hands the runner the same
// provider.Update values the file provider does, and it writes the statuses
// the pipeline computes back to the API server (status.go).
//
// The watches are controller-runtime informers. Their event handlers keep,
// per kind, the latest object of each name (the informer's own object,
// shallow-copied once with its TypeMeta) and mark the input dirty when an
// object changed in a way the translation can see: a new generation, labels
// or annotations, or any change of a kind without generations (Services,
// EndpointSlices, Secrets, ConfigMaps, Namespaces). Status-only updates,
// which our own status writes cause, do no work. Load assembles the Set from
// those objects: an unchanged object is the same pointer in every Set, which
// is what lets the pipeline's memo reuse its translation.
//
// The informers and the leader election run inside controller-runtime's
// manager (its goroutines); the debounce loop is Run, called by the runner
// like the file provider's.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/portico-gw/portico/internal/provider"
	"github.com/portico-gw/portico/internal/resource"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
)

// Defaults, Envoy Gateway's.
const (
	// DefaultNamespace is where the control plane runs (its lease, the
	// proxies' objects) unless ENVOY_GATEWAY_NAMESPACE says otherwise.
	DefaultNamespace = "envoy-gateway-system"
	// LeaderElectionID is the Lease Envoy Gateway's replicas share.
	LeaderElectionID = "5b9825d2.gateway.envoyproxy.io"
	// DefaultDebounce is the quiet period after a change before a load.
	// kubectl apply of a folder and a controller's burst of writes arrive
	// within milliseconds of each other; MaxDelay bounds a steady stream.
	DefaultDebounce = 20 * time.Millisecond
	// DefaultMaxDelay is the longest a change waits under constant churn.
	DefaultMaxDelay = 250 * time.Millisecond
	// DefaultRediscover is how often missing kinds are looked for: a CRD
	// installed after the start is watched within it.
	DefaultRediscover = 30 * time.Second
)

// LeaderElection is provider.kubernetes.leaderElection.
type LeaderElection struct {
	Disable                             bool
	LeaseDuration, RenewDeadline, Retry time.Duration
}

// Options configure a Provider.
type Options struct {
	// Config reaches the API server.
	Config *rest.Config
	// Namespace is the control plane's namespace (DefaultNamespace).
	Namespace string
	// ExtensionKinds are an extension manager's kinds, watched when served.
	ExtensionKinds []k8sschema.GroupVersionKind
	// LeaderElection (zero: on, with Envoy Gateway's timings).
	LeaderElection LeaderElection
	// Rediscover is how often kinds not watched (a CRD not installed, RBAC
	// not allowing them) are looked for again, to watch them without a
	// restart (zero: DefaultRediscover; negative: never).
	Rediscover time.Duration
	// Debounce and MaxDelay override the defaults.
	Debounce, MaxDelay time.Duration
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
}

// Provider watches the API server.
type Provider struct {
	opts   Options
	log    *slog.Logger
	scheme *runtime.Scheme
	mgr    manager.Manager
	kinds  []kind
	// problems are the kinds not watched, with why; reported in every
	// Update. kinds, objs and problems grow as rediscover finds kinds.
	problems resource.Problems

	dirty chan struct{}
	mu    sync.Mutex
	objs  []map[string]client.Object // per kind, by namespace/name
	gen   int

	done chan struct{}
	err  error
}

// New prepares a provider; nothing is contacted until Start.
func New(o Options) (*Provider, error) {
	if o.Config == nil {
		return nil, errors.New("kubernetes provider: no API server configuration")
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.Rediscover == 0 {
		o.Rediscover = DefaultRediscover
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	le := &o.LeaderElection
	if le.LeaseDuration <= 0 {
		le.LeaseDuration = 15 * time.Second
	}
	if le.RenewDeadline <= 0 {
		le.RenewDeadline = 10 * time.Second
	}
	if le.Retry <= 0 {
		le.Retry = 2 * time.Second
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	// controller-runtime and client-go log through globals of their own;
	// both go to the provider's logger (the last provider's, which is
	// the running one).
	ctrllog.SetLogger(logr.FromSlogHandler(o.Logger.Handler()))
	klog.SetSlogLogger(o.Logger)
	return &Provider{opts: o, log: o.Logger, scheme: scheme, dirty: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// Start checks which kinds are served and allowed, starts the informers and
// the leader election, and returns once every informer has listed (or ctx
// ends). The manager runs until ctx ends or it fails (see Done).
func (p *Provider) Start(ctx context.Context) error {
	cfg := rest.CopyConfig(p.opts.Config)
	// Status writes come in bursts of one per object (1000 routes, 1000
	// writes): client-go's default 5 requests/s would take minutes.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 1000, 2000
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes provider: %w", err)
	}
	kinds, problems, err := p.servedKinds(ctx, cs, p.allKinds())
	if err != nil {
		return err
	}
	p.problems = problems
	for _, pr := range problems {
		p.log.Warn("kind not watched", "problem", pr.String())
	}
	le := p.opts.LeaderElection
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                        p.scheme,
		Logger:                        logr.FromSlogHandler(p.log.Handler()),
		Cache:                         cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                !le.Disable,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       p.opts.Namespace,
		LeaderElectionResourceLock:    "leases",
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &le.LeaseDuration,
		RenewDeadline:                 &le.RenewDeadline,
		RetryPeriod:                   &le.Retry,
	})
	if err != nil {
		return fmt.Errorf("kubernetes provider: %w", err)
	}
	p.mgr = mgr
	for _, k := range kinds {
		if err := p.watch(ctx, k); err != nil {
			if k.required {
				return err
			}
			// Discovery and the REST mapper can disagree just after a
			// CRD changes: rediscover tries again.
			p.log.Warn("kind not watched", "kind", k.gvk.String(), "err", err)
			p.problems = append(p.problems, resource.Problem{File: "cluster", Kind: k.gvk.Kind, Message: err.Error()})
		}
	}
	go func() {
		err := mgr.Start(ctx)
		if err != nil {
			p.log.Error("kubernetes provider stopped", "err", err)
		}
		p.err = err
		close(p.done)
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		select {
		case <-p.done:
			return fmt.Errorf("kubernetes provider: %w", p.err)
		default:
		}
		return fmt.Errorf("kubernetes provider: the informers did not sync: %w", context.Cause(ctx))
	}
	p.log.Info("kubernetes provider synced", "kinds", len(kinds), "namespace", p.opts.Namespace)
	if len(p.problems) > 0 && p.opts.Rediscover > 0 {
		go p.rediscover(ctx, cs)
	}
	return nil
}

// Done is closed when the manager stopped; Err says why (nil: ctx ended).
// Losing the leader election stops it, as it does Envoy Gateway.
func (p *Provider) Done() <-chan struct{} { return p.done }

// Err is why the manager stopped.
func (p *Provider) Err() error {
	<-p.done
	return p.err
}

// Elected is closed once this replica leads (at once without election).
func (p *Provider) Elected() <-chan struct{} { return p.mgr.Elected() }

// Client writes to the API server (reads come from the informers' cache).
func (p *Provider) Client() client.Client { return p.mgr.GetClient() }

// APIReader reads from the API server directly.
func (p *Provider) APIReader() client.Reader { return p.mgr.GetAPIReader() }

// Scheme is the provider's type registry.
func (p *Provider) Scheme() *runtime.Scheme { return p.scheme }

// Namespace is the control plane's namespace.
func (p *Provider) Namespace() string { return p.opts.Namespace }

// Watching reports whether the kind is watched (served and allowed).
func (p *Provider) Watching(gvk k8sschema.GroupVersionKind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.kinds, func(k kind) bool { return k.gvk == gvk })
}

// handler keeps kind i's objects and marks the input dirty on changes the
// translation can see.
func (p *Provider) handler(i int) toolscache.ResourceEventHandler {
	put := func(obj any, force bool, old any) {
		o, ok := obj.(client.Object)
		if !ok {
			return
		}
		if !force {
			if prev, ok := old.(client.Object); ok && !changed(prev, o) {
				return
			}
		}
		p.mu.Lock()
		p.objs[i][key(o)] = p.kinds[i].own(o)
		p.mu.Unlock()
		p.markDirty()
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { put(obj, true, nil) },
		UpdateFunc: func(old, obj any) { put(obj, false, old) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			o, ok := obj.(client.Object)
			if !ok {
				return
			}
			p.mu.Lock()
			delete(p.objs[i], key(o))
			p.mu.Unlock()
			p.markDirty()
		},
	}
}

// changed reports whether an update can change the translation. Objects
// with a generation bump it on every spec change; the kinds without one
// (core kinds) count any write.
func changed(a, b client.Object) bool {
	if a.GetGeneration() == 0 && b.GetGeneration() == 0 {
		return a.GetResourceVersion() != b.GetResourceVersion()
	}
	return a.GetGeneration() != b.GetGeneration() ||
		!maps.Equal(a.GetLabels(), b.GetLabels()) ||
		!maps.Equal(a.GetAnnotations(), b.GetAnnotations()) ||
		!a.GetDeletionTimestamp().Equal(b.GetDeletionTimestamp())
}

func key(o client.Object) string {
	if ns := o.GetNamespace(); ns != "" {
		return ns + "/" + o.GetName()
	}
	return o.GetName()
}

func (p *Provider) markDirty() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

// Load assembles the Set from the watched objects, each kind sorted by
// namespace/name. Every load is applied: the API server already validated
// the objects, and there is no last good set to prefer over the cluster.
func (p *Provider) Load() provider.Update {
	set := &resource.Set{}
	p.mu.Lock()
	p.gen++
	gen := p.gen
	for i, k := range p.kinds {
		for _, name := range slices.Sorted(maps.Keys(p.objs[i])) {
			k.add(set, p.objs[i][name])
		}
	}
	problems := slices.Clone(p.problems)
	p.mu.Unlock()
	return provider.Update{Generation: gen, Set: set, Applied: true, Problems: problems}
}

// Run calls fn with a new load after every burst of changes, until ctx ends
// or the manager stops. A load waits for Debounce of quiet, and never more
// than MaxDelay after the first change of a burst.
func (p *Provider) Run(ctx context.Context, fn func(provider.Update)) error {
	var quiet, deadline <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.done:
			return p.err
		case <-p.dirty:
			quiet = time.After(p.opts.Debounce)
			if deadline == nil {
				deadline = time.After(p.opts.MaxDelay)
			}
			continue
		case <-quiet:
		case <-deadline:
		}
		quiet, deadline = nil, nil
		fn(p.Load())
	}
}
