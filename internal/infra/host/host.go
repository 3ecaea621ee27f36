// Package host is the Host infrastructure: it runs one proxy per fleet on
// this machine. By default the proxy is Portico's built-in proxy in a child
// process of its own (`portico proxy`, started from this executable),
// supervised and restarted with back-off, so that a data plane blow-up
// never takes the control plane with it. It can also run the built-in proxy
// inside this process (over an in-memory connection), or an `envoy` binary
// from PATH with a bootstrap pointing at the xDS server.
//
// Proxies in other processes reach the xDS server over mutual TLS with the
// proxy bundle of the certificates directory (internal/certs). Each proxy
// names its fleet in node.cluster, which is how the xDS server picks its
// snapshot.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/portico-gw/portico/internal/certs"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/proxy/budget"
	"github.com/portico-gw/portico/internal/proxy/stats"
)

// Data plane kinds.
const (
	// Builtin runs the built-in proxy as a supervised child process.
	Builtin = "builtin"
	// InProcess runs the built-in proxy in this process.
	InProcess = "in-process"
	// Envoy runs the envoy binary found on PATH (or at EnvoyPath).
	Envoy = "envoy"
	// None manages no proxy: they are started elsewhere (`portico proxy`).
	None = "none"
)

// Options configure the host infrastructure.
type Options struct {
	// DataPlane is Builtin, InProcess, Envoy or None.
	DataPlane string
	// XDSAddress is where proxies reach the xDS server (host:port).
	XDSAddress string
	// CertsDir holds the certificates (certs.Ensure's root): proxies in
	// other processes authenticate with its "envoy" bundle. Required for
	// Builtin and Envoy.
	CertsDir string
	// XDSDialer connects an in-process proxy to the xDS server without a
	// socket. Required for InProcess.
	XDSDialer func(ctx context.Context, address string) (net.Conn, error)
	// ProxyCommand starts a child proxy: the program and the arguments
	// that make it `portico proxy` (default: this executable, "proxy").
	ProxyCommand []string
	// EnvoyPath overrides the envoy binary looked up on PATH.
	EnvoyPath string
	// RuntimeDir holds generated bootstraps (default: a temporary folder).
	RuntimeDir string
	// AccessLog receives the built-in proxies' access logs (nil: stdout).
	AccessLog io.Writer
	// ProxyStderr receives child proxies' own logs (nil: stderr), at
	// ProxyLogLevel ("": the proxy's default, info).
	ProxyStderr   io.Writer
	ProxyLogLevel string
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// DrainTimeout bounds a stopping proxy's drain (default 5s).
	DrainTimeout time.Duration
	// LuaLimits bound the built-in proxies' Lua scripts (zero: defaults).
	LuaLimits budget.Limits
	// ProxyAdminDir, when set, gives each child `portico proxy` an admin
	// interface on a loopback port of its own (/stats/prometheus, ...),
	// whose address it writes to <fleet>.admin there (Envoy's
	// --admin-address-path); Processes reports it.
	ProxyAdminDir string
	// OnChange is called after a child process starts or exits.
	OnChange func()
}

// Infra starts and stops proxies as fleets come and go.
type Infra struct {
	opts  Options
	log   *slog.Logger
	envoy string

	mu      sync.Mutex
	running map[string]*instance
	wg      sync.WaitGroup
}

type instance struct {
	cancel    context.CancelFunc
	done      chan struct{}
	bootstrap *bootstrapv3.Bootstrap
	proc      *process // nil for in-process proxies
	// stats reads an in-process proxy's counters (nil for processes).
	stats func() []stats.Sample
}

// ProxyStats returns the counters of every in-process proxy, by fleet
// (child processes and Envoy keep theirs to themselves).
func (i *Infra) ProxyStats() map[string][]stats.Sample {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := map[string][]stats.Sample{}
	for f, inst := range i.running {
		if inst.stats != nil {
			out[f] = inst.stats()
		}
	}
	return out
}

// New checks the options (for Envoy: that the binary exists).
func New(o Options) (*Infra, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.ProxyStderr == nil {
		o.ProxyStderr = os.Stderr
	}
	if o.OnChange == nil {
		o.OnChange = func() {}
	}
	i := &Infra{opts: o, log: o.Logger, running: map[string]*instance{}}
	switch o.DataPlane {
	case None:
	case InProcess:
		if o.XDSDialer == nil {
			return nil, errors.New("the in-process data plane needs an in-memory xDS connection")
		}
	case Builtin:
		if o.CertsDir == "" {
			return nil, errors.New("the builtin data plane needs a certificates directory")
		}
		if o.ProxyAdminDir != "" {
			if err := os.MkdirAll(o.ProxyAdminDir, 0o700); err != nil {
				return nil, err
			}
		}
		if len(i.opts.ProxyCommand) == 0 {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("--data-plane builtin: cannot find this executable to start proxies: %w", err)
			}
			i.opts.ProxyCommand = []string{exe, "proxy"}
		}
	case Envoy:
		if o.CertsDir == "" {
			return nil, errors.New("the envoy data plane needs a certificates directory")
		}
		path := o.EnvoyPath
		if path == "" {
			path = "envoy"
		}
		p, err := exec.LookPath(path)
		if err != nil {
			return nil, fmt.Errorf("--data-plane envoy: %w (install Envoy or use --data-plane builtin)", err)
		}
		i.envoy = p
		if o.RuntimeDir == "" {
			d, err := os.MkdirTemp("", "portico-")
			if err != nil {
				return nil, err
			}
			i.opts.RuntimeDir = d
		}
	default:
		return nil, fmt.Errorf("unknown data plane %q: use builtin, in-process, envoy or none", o.DataPlane)
	}
	return i, nil
}

// Ensure runs exactly one proxy for each fleet: new fleets get one, proxies
// of fleets that are gone are stopped.
func (i *Infra) Ensure(ctx context.Context, fleets []string) {
	if i.opts.DataPlane == None {
		return
	}
	want := map[string]bool{}
	for _, f := range fleets {
		want[f] = true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	for f, inst := range i.running {
		if !want[f] {
			i.log.Info("stopping proxy", "fleet", f)
			inst.cancel()
			delete(i.running, f)
		}
	}
	for _, f := range fleets {
		if i.running[f] != nil {
			continue
		}
		inst, run, err := i.prepare(f)
		if err != nil {
			i.log.Error("cannot start proxy", "fleet", f, "err", err)
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		inst.cancel, inst.done = cancel, make(chan struct{})
		i.log.Info("starting proxy", "fleet", f, "dataPlane", i.opts.DataPlane)
		i.running[f] = inst
		i.wg.Add(1)
		go func() {
			defer i.wg.Done()
			defer close(inst.done)
			if err := run(pctx); err != nil && pctx.Err() == nil {
				i.log.Error("proxy stopped", "fleet", f, "err", err)
			}
		}()
	}
}

// prepare builds what runs a fleet's proxy.
func (i *Infra) prepare(fleet string) (*instance, func(context.Context) error, error) {
	inst := &instance{}
	switch i.opts.DataPlane {
	case InProcess:
		p, err := proxy.New(proxy.Options{XDSAddress: "portico-xds", XDSDialer: i.opts.XDSDialer,
			NodeID: NodeID(fleet, "builtin"), Cluster: fleet, AccessLog: i.opts.AccessLog,
			Logger: i.log.With("fleet", fleet), DrainTimeout: i.opts.DrainTimeout, LuaLimits: i.opts.LuaLimits})
		if err != nil {
			return nil, nil, err
		}
		proxy.TuneGC() // this process now serves traffic
		inst.stats = p.Stats
		return inst, p.Run, nil
	case Builtin:
		inst.proc = newProcess(fleet, "portico proxy")
		inst.proc.adminFile = i.adminFile(fleet)
		return inst, func(ctx context.Context) error { return i.supervise(ctx, inst.proc, i.proxyCommand) }, nil
	case Envoy:
		bs, path, err := i.writeBootstrap(fleet)
		if err != nil {
			return nil, nil, fmt.Errorf("envoy bootstrap: %w", err)
		}
		inst.bootstrap = bs
		inst.proc = newProcess(fleet, "envoy")
		return inst, func(ctx context.Context) error {
			return i.supervise(ctx, inst.proc, func(fleet string) *exec.Cmd { return i.envoyCommand(fleet, path) })
		}, nil
	}
	return nil, nil, fmt.Errorf("data plane %q runs no proxy", i.opts.DataPlane)
}

// proxyCommand is a child `portico proxy` for fleet.
func (i *Infra) proxyCommand(fleet string) *exec.Cmd {
	args := append(append([]string(nil), i.opts.ProxyCommand[1:]...),
		"--xds-address", i.opts.XDSAddress,
		"--cluster", fleet,
		"--certs", filepath.Join(i.opts.CertsDir, certs.Proxy),
		"--drain-timeout", i.opts.DrainTimeout.String())
	if i.opts.ProxyLogLevel != "" {
		args = append(args, "--log-level", i.opts.ProxyLogLevel)
	}
	args = append(args, LuaLimitArgs(i.opts.LuaLimits)...)
	if path := i.adminFile(fleet); path != "" {
		_ = os.Remove(path) // a previous start's address is not this one's
		args = append(args, "--admin-address", "127.0.0.1:0", "--admin-address-path", path)
	}
	cmd := exec.Command(i.opts.ProxyCommand[0], args...)
	cmd.Stdout = i.opts.AccessLog
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stdout == io.Discard {
		cmd.Stdout = nil // the null device, without a copying goroutine
	}
	cmd.Stderr = i.opts.ProxyStderr
	return cmd
}

// adminFile is where the child proxy of fleet writes its admin address
// ("" without Options.ProxyAdminDir).
func (i *Infra) adminFile(fleet string) string {
	if i.opts.ProxyAdminDir == "" {
		return ""
	}
	return filepath.Join(i.opts.ProxyAdminDir, sanitize(fleet)+".admin")
}

// Bootstrap returns the bootstrap an Envoy of fleet was started with (nil
// for the built-in proxy, which needs none).
func (i *Infra) Bootstrap(fleet string) *bootstrapv3.Bootstrap {
	i.mu.Lock()
	defer i.mu.Unlock()
	if inst := i.running[fleet]; inst != nil {
		return inst.bootstrap
	}
	return nil
}

// Fleets lists the fleets with a running proxy.
func (i *Infra) Fleets() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]string, 0, len(i.running))
	for f := range i.running {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Processes reports the proxy processes (Builtin and Envoy), by fleet.
func (i *Infra) Processes() []Process {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]Process, 0, len(i.running))
	for _, inst := range i.running {
		if inst.proc != nil {
			out = append(out, inst.proc.status())
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Fleet < out[b].Fleet })
	return out
}

// Close stops every proxy and waits for them.
func (i *Infra) Close() {
	i.mu.Lock()
	for f, inst := range i.running {
		inst.cancel()
		delete(i.running, f)
	}
	i.mu.Unlock()
	i.wg.Wait()
}

// NodeID is a proxy's node.id: the fleet plus what runs it and the pid, so
// proxies of one fleet (and restarts) are told apart in /status.
func NodeID(fleet, kind string) string {
	return kind + "/" + fleet + "/" + strconv.Itoa(os.Getpid())
}

// LuaLimitArgs are the `portico proxy` flags that set l's non-zero fields.
func LuaLimitArgs(l budget.Limits) []string {
	var args []string
	if l.Instructions != 0 {
		args = append(args, "--lua-max-instructions="+strconv.FormatInt(l.Instructions, 10))
	}
	if l.Time != 0 {
		args = append(args, "--lua-max-time="+l.Time.String())
	}
	if l.Memory != 0 {
		args = append(args, "--lua-max-memory="+strconv.FormatInt(l.Memory, 10))
	}
	return args
}
