// Package extension is the extension manager: it calls extension servers
// (Envoy Gateway's envoygateway.extension gRPC API) from the xDS stage.
//
// A Manager implements xdstypes.Hooks, so `x translate`, tests and the
// server run the same code. It owns everything the pure translator must
// not: connections, deadlines, retries, concurrency, failOpen and metrics.
// Several managers (EnvoyGateway extensionManagers) form a chain: each
// hook's calls go through them in list order, each one's output feeding
// the next.
package extension

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Defaults that Envoy Gateway does not define (it has no call deadline: a
// hung extension server stalls its translation forever).
const (
	DefaultCallTimeout = 5 * time.Second
	DefaultParallelism = 16
	// DefaultMaxMessageSize is Envoy Gateway's default maxMessageSize.
	DefaultMaxMessageSize = 4 << 20
)

// Options are the settings that do not come from the EnvoyGateway config.
type Options struct {
	// CallTimeout bounds each attempt of each call (0: 5s). The
	// EnvoyGateway API has no field for it: portico's commands take it
	// from PORTICO_EXTENSION_CALL_TIMEOUT.
	CallTimeout time.Duration
	// Parallelism bounds the concurrent calls of one hook per manager
	// (default 16). Results do not depend on it.
	Parallelism int
	// Logger receives failOpen errors (default slog.Default()).
	Logger *slog.Logger
	// Registerer, when set, gets the per-hook metrics.
	Registerer prometheus.Registerer
	// Secret returns a Secret's data for service.tls certificate refs
	// (namespace defaults to SecretNamespace).
	Secret func(namespace, name string) (map[string][]byte, error)
	// SecretNamespace is the namespace of refs that name none (default
	// envoy-gateway-system).
	SecretNamespace string
	// Address, when set, overrides every manager's service address
	// (`x translate --extension-server`): host:port or unix:///path.
	Address string
}

// Manager is a chain of extension servers. It is safe for concurrent use.
type Manager struct {
	members []*member
	opts    Options
	metrics *metrics
}

// member is one extensionManager entry.
type member struct {
	name     string
	cfg      *egv1a1.ExtensionManager
	hooks    map[xdstypes.Hook]bool
	client   *client
	failOpen bool
	// lenient treats UNIMPLEMENTED as "no change": used when every hook is
	// turned on because no configuration said which ones the server has.
	lenient bool
}

// Configs returns the extension managers an EnvoyGateway config declares,
// in call order.
func Configs(cfg *egv1a1.EnvoyGateway) []*egv1a1.ExtensionManager {
	if cfg == nil {
		return nil
	}
	if cfg.ExtensionManager != nil {
		return []*egv1a1.ExtensionManager{cfg.ExtensionManager}
	}
	return cfg.ExtensionManagers
}

// New builds the chain the config declares. It returns nil, nil when the
// config declares none and opts.Address is empty. With opts.Address and no
// declared manager, one manager with every post hook is created.
// Connections are made lazily, on the first call.
func New(cfg *egv1a1.EnvoyGateway, opts Options) (*Manager, error) {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if cfg != nil && cfg.ExtensionManager != nil && len(cfg.ExtensionManagers) > 0 {
		return nil, fmt.Errorf("extensionManager and extensionManagers are mutually exclusive")
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = DefaultParallelism
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SecretNamespace == "" {
		opts.SecretNamespace = "envoy-gateway-system"
	}
	cfgs := Configs(cfg)
	lenient := false
	if len(cfgs) == 0 {
		if opts.Address == "" {
			return nil, nil
		}
		cfgs = []*egv1a1.ExtensionManager{{Name: "extension-server", Hooks: &egv1a1.ExtensionHooks{
			XDSTranslator: &egv1a1.XDSTranslatorHooks{Post: []egv1a1.XDSTranslatorHook{
				egv1a1.XDSRoute, egv1a1.XDSVirtualHost, egv1a1.XDSHTTPListener,
				egv1a1.XDSCluster, egv1a1.XDSTranslation,
			}},
		}}}
		lenient = true
	}
	m := &Manager{opts: opts, metrics: newMetrics(opts.Registerer)}
	names := map[string]bool{}
	for i, c := range cfgs {
		if c == nil {
			continue
		}
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("extension-%d", i)
		}
		if names[name] {
			m.Close()
			return nil, fmt.Errorf("extensionManagers: duplicate name %q", name)
		}
		names[name] = true
		cl, err := newClient(name, c, opts)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("extension manager %q: %w", name, err)
		}
		mb := &member{name: name, cfg: c, hooks: map[xdstypes.Hook]bool{}, client: cl, failOpen: c.FailOpen, lenient: lenient}
		if c.Hooks != nil && c.Hooks.XDSTranslator != nil {
			for _, h := range c.Hooks.XDSTranslator.Post {
				mb.hooks[xdstypes.Hook(h)] = true
			}
		}
		m.members = append(m.members, mb)
	}
	return m, nil
}

// Close closes every connection.
func (m *Manager) Close() error {
	if m == nil {
		return nil
	}
	var errs []error
	for _, mb := range m.members {
		if mb.client != nil {
			errs = append(errs, mb.client.close())
		}
	}
	return errors.Join(errs...)
}

// Enabled reports whether any manager in the chain has hook h.
func (m *Manager) Enabled(h xdstypes.Hook) bool {
	if m == nil {
		return false
	}
	for _, mb := range m.members {
		if mb.hooks[h] {
			return true
		}
	}
	return false
}

// HookError is a failed hook of a manager without failOpen.
type HookError struct {
	Manager string
	Hook    xdstypes.Hook
	// Resource names what was being modified ("" for Translation).
	Resource string
	Err      error
}

func (e *HookError) Error() string {
	if e.Resource == "" {
		return fmt.Sprintf("extension manager %q: %s hook: %v", e.Manager, e.Hook, e.Err)
	}
	return fmt.Sprintf("extension manager %q: %s hook for %s: %v", e.Manager, e.Hook, e.Resource, e.Err)
}

func (e *HookError) Unwrap() error { return e.Err }

// errServerDown marks the calls a batch skipped after the server was found
// unreachable or hung.
var errServerDown = errors.New("skipped: the extension server did not answer an earlier call of this batch")

// runAll runs fn for calls 0..n-1 of one hook on one member, at most
// Parallelism at a time. Each call writes only its own slot, so results do
// not depend on scheduling; the error returned is the one of the lowest
// index, so it does not either. A failure under failOpen is logged and
// counted and leaves the call's resource unchanged.
//
// A hung or unreachable server costs one call deadline per batch, not one
// per call: after such a failure the remaining calls are skipped (their
// resources stay unchanged under failOpen) and, without failOpen, the calls
// in flight are cancelled since the batch fails anyway.
func (m *Manager) runAll(ctx context.Context, mb *member, h xdstypes.Hook, n int, name func(i int) string, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	sem := make(chan struct{}, m.opts.Parallelism)
	var down atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		if down.Load() {
			<-sem
			errs[i] = errServerDown
			m.metrics.observe(mb.name, h, 0, errServerDown)
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			err := fn(ctx, i)
			m.metrics.observe(mb.name, h, time.Since(start), err)
			errs[i] = err
			if err == nil {
				return
			}
			if !mb.failOpen {
				down.Store(true)
				cancel()
				return
			}
			if c := status.Code(err); c == codes.Unavailable || c == codes.DeadlineExceeded {
				down.Store(true)
			}
		}(i)
	}
	wg.Wait()
	var first error
	firstAt := -1
	for i, err := range errs {
		if err == nil {
			continue
		}
		if mb.failOpen {
			if err != errServerDown {
				m.opts.Logger.Warn("extension hook failed; failOpen keeps the resource unchanged",
					"manager", mb.name, "hook", string(h), "resource", name(i), "err", err)
			}
			continue
		}
		// Report the lowest-index error that is not a consequence of
		// cancelling the batch.
		if err == errServerDown || (status.Code(err) == codes.Canceled && ctx.Err() != nil) {
			if firstAt < 0 {
				first, firstAt = err, i
			}
			continue
		}
		return &HookError{Manager: mb.name, Hook: h, Resource: name(i), Err: err}
	}
	if firstAt >= 0 {
		return &HookError{Manager: mb.name, Hook: h, Resource: name(firstAt), Err: first}
	}
	return nil
}
