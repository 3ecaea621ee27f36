// Package host is the Host infrastructure: it runs one proxy per fleet on
// this machine, either Portico's built-in proxy in-process (a goroutine) or
// an `envoy` binary from PATH with a bootstrap pointing at the xDS server.
// Each proxy names its fleet in node.cluster, which is how the xDS server
// picks its snapshot.
package host

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
)

// Data plane kinds.
const (
	// Builtin runs internal/proxy in this process.
	Builtin = "builtin"
	// Envoy runs the envoy binary found on PATH (or at EnvoyPath).
	Envoy = "envoy"
	// None manages no proxy: they are started elsewhere (`portico proxy`).
	None = "none"
)

// Options configure the host infrastructure.
type Options struct {
	// DataPlane is Builtin, Envoy or None.
	DataPlane string
	// XDSAddress is where proxies reach the xDS server (host:port).
	XDSAddress string
	// EnvoyPath overrides the envoy binary looked up on PATH.
	EnvoyPath string
	// RuntimeDir holds generated bootstraps (default: a temporary folder).
	RuntimeDir string
	// AccessLog receives the built-in proxies' access logs (nil: stdout).
	AccessLog io.Writer
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// DrainTimeout bounds a stopping built-in proxy's drain (default 5s).
	DrainTimeout time.Duration
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
}

// New checks the options (for Envoy: that the binary exists).
func New(o Options) (*Infra, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 5 * time.Second
	}
	i := &Infra{opts: o, log: o.Logger, running: map[string]*instance{}}
	switch o.DataPlane {
	case Builtin, None:
	case Envoy:
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
		return nil, fmt.Errorf("unknown data plane %q: use builtin, envoy or none", o.DataPlane)
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
		pctx, cancel := context.WithCancel(ctx)
		inst := &instance{cancel: cancel, done: make(chan struct{})}
		var run func(context.Context) error
		switch i.opts.DataPlane {
		case Builtin:
			p, err := proxy.New(proxy.Options{XDSAddress: i.opts.XDSAddress, NodeID: NodeID(f, "builtin"), Cluster: f,
				AccessLog: i.opts.AccessLog, Logger: i.log.With("fleet", f), DrainTimeout: i.opts.DrainTimeout})
			if err != nil {
				cancel()
				i.log.Error("cannot create proxy", "fleet", f, "err", err)
				continue
			}
			proxy.TuneGC() // this process now serves traffic
			run = p.Run
		case Envoy:
			bs, path, err := i.writeBootstrap(f)
			if err != nil {
				cancel()
				i.log.Error("cannot write envoy bootstrap", "fleet", f, "err", err)
				continue
			}
			inst.bootstrap = bs
			run = func(ctx context.Context) error { return i.superviseEnvoy(ctx, f, path) }
		}
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

// writeBootstrap writes the Envoy bootstrap of a fleet as JSON (Envoy picks
// the format from the extension). Admin and stats get free loopback ports:
// Envoy Gateway's fixed 19000/19001 would clash with Portico's admin and
// with each other when a host runs several fleets.
func (i *Infra) writeBootstrap(fleet string) (*bootstrapv3.Bootstrap, string, error) {
	host, portStr, err := net.SplitHostPort(i.opts.XDSAddress)
	if err != nil {
		return nil, "", err
	}
	port, err := strconv.ParseUint(portStr, 10, 32)
	if err != nil {
		return nil, "", err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	admin, err := freePort()
	if err != nil {
		return nil, "", err
	}
	stats, err := freePort()
	if err != nil {
		return nil, "", err
	}
	o := bootstrap.EnvoyGatewayDefaults()
	o.XDSHost, o.XDSPort, o.XDSTLS = host, uint32(port), nil
	o.AdminAddress, o.AdminPort = "127.0.0.1", admin
	o.StatsAddress, o.StatsPort = "127.0.0.1", stats
	bs := bootstrap.Build(o)
	// The node names the fleet; the locality placeholder is for pods.
	bs.Node = &corev3.Node{Id: NodeID(fleet, "envoy"), Cluster: fleet}
	b, err := protojson.MarshalOptions{Indent: "  ", UseProtoNames: true}.Marshal(bs)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(i.opts.RuntimeDir, "envoy-"+sanitize(fleet)+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, "", err
	}
	return bs, path, nil
}

// superviseEnvoy runs envoy until ctx ends, restarting it with back-off
// when it exits on its own.
func (i *Infra) superviseEnvoy(ctx context.Context, fleet, bootstrapPath string) error {
	backoff := time.Second
	for {
		start := time.Now()
		cmd := exec.Command(i.envoy, "-c", bootstrapPath, "--use-dynamic-base-id", "--log-level", "info",
			"--service-cluster", fleet, "--service-node", NodeID(fleet, "envoy"))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-ctx.Done():
			// Envoy drains and exits on SIGTERM; give it a moment.
			_ = cmd.Process.Signal(sigterm)
			select {
			case <-exited:
			case <-time.After(i.opts.DrainTimeout):
				_ = cmd.Process.Kill()
				<-exited
			}
			return nil
		case err := <-exited:
			i.log.Error("envoy exited; restarting", "fleet", fleet, "err", err, "backoff", backoff)
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func freePort() (uint32, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint32(l.Addr().(*net.TCPAddr).Port), nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
