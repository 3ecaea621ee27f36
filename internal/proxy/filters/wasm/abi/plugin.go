package abi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Defaults of PluginConfig.
const (
	DefaultCallTimeout  = 2 * time.Second // as budget.Default.Time for Lua
	DefaultStartTimeout = 10 * time.Second
	// DefaultMemoryLimitPages is 128 MiB per VM (a page is 64 KiB).
	DefaultMemoryLimitPages = 2048
)

// PluginConfig is one plugin instance: a module, its configuration and
// the limits of its VMs.
type PluginConfig struct {
	// Name, RootID and VMID are what the plugin reads as plugin_name,
	// plugin_root_id and plugin_vm_id.
	Name, RootID, VMID string
	// Configuration is the plugin configuration (proxy_on_configure);
	// VMConfiguration the VM's (proxy_on_vm_start).
	Configuration, VMConfiguration []byte
	// Env is the environment the VM sees (host_env_keys).
	Env map[string]string
	// PoolSize is the number of VMs (GOMAXPROCS when 0).
	PoolSize int
	// CallTimeout bounds every callback, StartTimeout a VM's start.
	CallTimeout, StartTimeout time.Duration
	// MemoryLimitPages caps each VM's memory (DefaultMemoryLimitPages).
	MemoryLimitPages uint32
	// CompilationCache is shared by every plugin of the process; nil
	// compiles without one.
	CompilationCache wazero.CompilationCache
	// Call performs proxy_http_call; nil fails every call.
	Call   func(ctx context.Context, r CallRequest) (CallResponse, error)
	Logger *slog.Logger
}

// Plugin is a compiled module and its pool of VMs.
type Plugin struct {
	cfg      PluginConfig
	log      *slog.Logger
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	ctx      context.Context
	cancel   context.CancelFunc

	mu         sync.Mutex
	vms        []*VM
	rr         atomic.Uint32
	vmFailures atomic.Int64
	metrics    metrics
	unknown    []string
	// watched are the VMs whose calls the watchdog times (a VM is watched
	// from its start, before it joins vms).
	watchMu sync.Mutex
	watched map[*VM]bool
}

// Load compiles code and starts its VMs. An error means the module cannot
// run at all (it does not compile, lacks the ABI, or its first VM fails
// to start or to accept its configuration).
func Load(ctx context.Context, code []byte, cfg PluginConfig) (*Plugin, error) {
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = runtime.GOMAXPROCS(0)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithMemoryLimitPages(cfg.MemoryLimitPages)
	if cfg.CompilationCache != nil {
		rc = rc.WithCompilationCache(cfg.CompilationCache)
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Plugin{cfg: cfg, log: cfg.Logger.With("wasm", cfg.Name), rt: wazero.NewRuntimeWithConfig(ctx, rc), ctx: pctx, cancel: cancel,
		watched: map[*VM]bool{}}
	go p.watchdog(min(max(min(cfg.CallTimeout, cfg.StartTimeout)/10, 5*time.Millisecond), 100*time.Millisecond))
	if err := p.load(ctx, code); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Plugin) load(ctx context.Context, code []byte) error {
	compiled, err := p.rt.CompileModule(ctx, code)
	if err != nil {
		return fmt.Errorf("compiling the module: %w", err)
	}
	p.compiled = compiled
	if err := checkABIVersion(compiled); err != nil {
		return err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return err
	}
	if err := p.instantiateHost(ctx); err != nil {
		return err
	}
	for i := 0; i < p.cfg.PoolSize; i++ {
		vm, err := p.newVM(p.ctx)
		if err != nil {
			return fmt.Errorf("starting VM: %w", err)
		}
		p.vms = append(p.vms, vm)
		p.startTicks(vm)
	}
	return nil
}

// checkABIVersion accepts modules of ABI 0.2.x, which Envoy runs.
func checkABIVersion(m wazero.CompiledModule) error {
	exports := m.ExportedFunctions()
	for _, v := range []string{"proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0"} {
		if _, ok := exports[v]; ok {
			return nil
		}
	}
	if _, ok := exports["proxy_abi_version_0_1_0"]; ok {
		return errors.New("the module uses proxy-wasm ABI 0.1.0; only 0.2.0 and 0.2.1 are supported")
	}
	return errors.New("the module exports no proxy_abi_version_* function: not a proxy-wasm module")
}

// instantiateHost provides the ABI's functions to the module, plus a stub
// returning UNIMPLEMENTED for any other proxy_* function it imports, so
// that a module written for a newer host still loads.
func (p *Plugin) instantiateHost(ctx context.Context) error {
	b := p.rt.NewHostModuleBuilder("env")
	known := map[string]bool{}
	for _, hf := range hostFunctions {
		known[hf.name] = true
		b.NewFunctionBuilder().WithGoModuleFunction(hf.fn, hf.params, hf.results).Export(hf.name)
	}
	for _, imp := range p.compiled.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod != "env" || known[name] {
			continue
		}
		res := imp.ResultTypes()
		if !strings.HasPrefix(name, "proxy_") || len(res) > 1 || (len(res) == 1 && res[0] != api.ValueTypeI32) {
			return fmt.Errorf("the module imports env.%s, which this host does not provide", name)
		}
		known[name] = true
		p.unknown = append(p.unknown, name)
		b.NewFunctionBuilder().WithGoModuleFunction(unimplemented(len(res)), imp.ParamTypes(), res).Export(name)
	}
	if len(p.unknown) > 0 {
		p.log.Warn("wasm: the module imports host functions that answer UNIMPLEMENTED", "functions", p.unknown)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func unimplemented(results int) api.GoModuleFunc {
	return func(_ context.Context, _ api.Module, stack []uint64) {
		if results == 1 {
			stack[0] = uint64(StatusUnimplemented)
		}
	}
}

// pick returns a healthy VM for a new stream, round robin.
func (p *Plugin) pick() (*VM, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.vms)
	start := int(p.rr.Add(1))
	for i := 0; i < n; i++ {
		vm := p.vms[(start+i)%n]
		if !vm.broken.Load() {
			return vm, nil
		}
	}
	return nil, errors.New("no VM is running: every VM failed and none could be restarted")
}

// replace starts a new VM in place of a broken one.
func (p *Plugin) replace(old *VM) {
	if p.ctx.Err() != nil {
		return
	}
	vm, err := p.newVM(p.ctx)
	if err != nil {
		p.log.Error("wasm: restarting a VM failed", "err", err)
		return
	}
	p.mu.Lock()
	for i, v := range p.vms {
		if v == old {
			p.vms[i] = vm
		}
	}
	p.mu.Unlock()
	p.startTicks(vm)
}

// startTicks calls proxy_on_tick at the period the root context set.
func (p *Plugin) startTicks(vm *VM) {
	period := time.Duration(vm.tick.Load())
	if period <= 0 || vm.fns.tick == nil {
		return
	}
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-p.ctx.Done():
				return
			case <-t.C:
			}
			if vm.broken.Load() {
				return
			}
			vm.mu.Lock()
			vm.current = rootContextID
			_, _ = vm.call(p.ctx, vm.fns.tick, rootContextID)
			vm.dispatchCallsLocked(p.ctx)
			vm.mu.Unlock()
		}
	}()
}

func (p *Plugin) watch(vm *VM) {
	p.watchMu.Lock()
	p.watched[vm] = true
	p.watchMu.Unlock()
}

func (p *Plugin) unwatch(vm *VM) {
	p.watchMu.Lock()
	delete(p.watched, vm)
	p.watchMu.Unlock()
}

// watchdog ends calls that run past their deadline, every tick.
func (p *Plugin) watchdog(tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case now := <-t.C:
			p.watchMu.Lock()
			for vm := range p.watched {
				vm.expire(now.UnixNano())
			}
			p.watchMu.Unlock()
		}
	}
}

func (p *Plugin) callCluster(ctx context.Context, r CallRequest) (CallResponse, error) {
	if p.cfg.Call == nil {
		return CallResponse{}, errors.New("http calls are not available")
	}
	d := time.Duration(r.Timeout) * time.Millisecond
	if d <= 0 {
		d = 10 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return p.cfg.Call(cctx, r)
}

// VMs is the number of VMs in the pool; Failures how many failed so far.
func (p *Plugin) VMs() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.vms) }

// Failures is the number of VM failures since Load.
func (p *Plugin) Failures() int64 { return p.vmFailures.Load() }

// Unimplemented lists the imported host functions answered by a stub.
func (p *Plugin) Unimplemented() []string { return append([]string(nil), p.unknown...) }

// Close stops the VMs and frees the runtime.
func (p *Plugin) Close() {
	p.cancel()
	_ = p.rt.Close(context.Background())
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
