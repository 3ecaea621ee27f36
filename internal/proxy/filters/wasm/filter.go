// Package wasm is the built-in proxy's envoy.filters.http.wasm: it loads
// the module its configuration names and runs it through the proxy-wasm
// host in package abi. This package is the adapter between the proxy's
// filter contract (package filters) and the host; the host itself does
// not know the proxy's request types.
//
// As in Envoy, the module comes from vm_config.code: remote (downloaded
// through a cluster of the config, which Portico points at the control
// plane's wasm server, and checked against its sha256; never from the
// origin) or local (inline bytes or a file). Until the module is loaded a
// request waits for it (Envoy keeps the listener warming); once loading
// failed, requests are answered 503 with details wasm_fail_stream, or pass
// without the filter when fail_open is set.
//
// Bodies stream as in Envoy: the request goes upstream once its headers
// callback continued, and each piece of its body runs through
// proxy_on_request_body as the router reads it (reqstream.go), while the
// response may already come back; the stream's callbacks are serialized
// by a mutex of the stream (host.mu). Data a callback stops on is held and
// shown again, grown, at the next one.
package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/abi"
)

func init() {
	filters.Register(&filters.Factory{
		TypeURL: filters.TypeURL("envoy.extensions.filters.http.wasm.v3.Wasm"),
		New:     newFilter,
	})
}

// Limits of module downloads by the proxy.
const (
	maxModuleSize = 256 << 20
	defaultFetch  = 10 * time.Second
)

// runtimes Portico accepts in vm_config.runtime: Envoy Gateway asks for
// V8; the module runs on wazero whatever the name, as long as it is a
// Wasm runtime and not Envoy's native "null" VM.
var runtimes = map[string]bool{"envoy.wasm.runtime.v8": true, "envoy.wasm.runtime.wamr": true,
	"envoy.wasm.runtime.wasmtime": true, "envoy.wasm.runtime.wavm": true, "": true}

// Options tune every Wasm filter of the process.
var Options = struct {
	// PoolSize is the number of VMs per plugin (0: GOMAXPROCS).
	PoolSize int
	// CallTimeout bounds one callback (abi.DefaultCallTimeout when 0).
	CallTimeout time.Duration
	// MemoryLimitPages caps one VM's memory (abi.DefaultMemoryLimitPages).
	MemoryLimitPages uint32
	// WaitForLoad is how long a request waits for a module still loading.
	WaitForLoad time.Duration
	// CompilationCacheDir overrides CompilationCacheDir().
	CompilationCacheDir string
}{WaitForLoad: 30 * time.Second}

type filter struct {
	name     string
	failOpen bool
	plugin   *loaded
	log      *slog.Logger
}

// spec is what a filter's plugin is made of; equal specs share one
// loaded plugin (a listener update that keeps the filter keeps its VMs).
type spec struct {
	key      string
	cfg      abi.PluginConfig
	remote   *corev3.RemoteDataSource
	local    []byte
	filename string
}

func newFilter(name string, cfg *anypb.Any, bc filters.BuildContext) (filters.Filter, error) {
	var w wasmfilterv3.Wasm
	if err := cfg.UnmarshalTo(&w); err != nil {
		return nil, fmt.Errorf("wasm %q: %v", name, err)
	}
	pc := w.GetConfig()
	if pc == nil {
		return nil, fmt.Errorf("wasm %q: config is required", name)
	}
	sp, err := specOf(pc)
	if err != nil {
		return nil, fmt.Errorf("wasm %q: %v", name, err)
	}
	log := bc.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("filter", name)
	sp.cfg.Logger = log
	f := &filter{name: name, failOpen: pc.GetFailOpen(), log: log} //nolint:staticcheck // the field Envoy Gateway sets
	f.plugin = acquire(sp, bc)
	// The plugin is shared by every filter of the same spec and closed
	// when the last of them is no longer referenced by any config.
	runtime.AddCleanup(f, func(l *loaded) { l.release() }, f.plugin)
	return f, nil
}

// specOf reads the plugin and VM configuration; what Portico cannot run
// is an error (a NACK) rather than ignored.
func specOf(pc *wasmv3.PluginConfig) (*spec, error) {
	vm := pc.GetVmConfig()
	if vm == nil {
		return nil, errors.New("only vm_config is supported (not plugin_config.vm references)")
	}
	if !runtimes[vm.GetRuntime()] {
		return nil, fmt.Errorf("runtime %q is not supported: modules run on wazero", vm.GetRuntime())
	}
	conf, err := configurationBytes(pc.GetConfiguration())
	if err != nil {
		return nil, fmt.Errorf("configuration: %v", err)
	}
	vmConf, err := configurationBytes(vm.GetConfiguration())
	if err != nil {
		return nil, fmt.Errorf("vm_config.configuration: %v", err)
	}
	env := map[string]string{}
	if ev := vm.GetEnvironmentVariables(); ev != nil {
		for _, k := range ev.GetHostEnvKeys() {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
		for k, v := range ev.GetKeyValues() {
			env[k] = v
		}
	}
	sp := &spec{cfg: abi.PluginConfig{Name: pc.GetName(), RootID: pc.GetRootId(), VMID: vm.GetVmId(),
		Configuration: conf, VMConfiguration: vmConf, Env: env, PoolSize: Options.PoolSize,
		CallTimeout: Options.CallTimeout, MemoryLimitPages: Options.MemoryLimitPages}}
	switch c := vm.GetCode().GetSpecifier().(type) {
	case *corev3.AsyncDataSource_Remote:
		if c.Remote.GetHttpUri().GetCluster() == "" || c.Remote.GetSha256() == "" {
			return nil, errors.New("code.remote needs http_uri.cluster and sha256")
		}
		sp.remote = c.Remote
	case *corev3.AsyncDataSource_Local:
		switch l := c.Local.GetSpecifier().(type) {
		case *corev3.DataSource_InlineBytes:
			sp.local = l.InlineBytes
		case *corev3.DataSource_Filename:
			sp.filename = l.Filename
		default:
			return nil, errors.New("code.local must be inline_bytes or filename")
		}
	default:
		return nil, errors.New("vm_config.code is required")
	}
	key, err := proto.MarshalOptions{Deterministic: true}.Marshal(pc)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(key)
	sp.key = hex.EncodeToString(h[:])
	return sp, nil
}

// configurationBytes unpacks a configuration Any (StringValue or
// BytesValue, as Envoy accepts).
func configurationBytes(a *anypb.Any) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, err
	}
	switch v := m.(type) {
	case *wrapperspb.StringValue:
		return []byte(v.GetValue()), nil
	case *wrapperspb.BytesValue:
		return v.GetValue(), nil
	}
	return nil, fmt.Errorf("type %s is not supported: use google.protobuf.StringValue or BytesValue", a.GetTypeUrl())
}

// loaded is one plugin being loaded, loaded, or failed, shared by the
// filters of one spec.
type loaded struct {
	sp     *spec
	refs   int
	ready  chan struct{} // closed when the first load attempt settled
	mu     sync.Mutex
	plugin *abi.Plugin
	err    error
	cancel context.CancelFunc
	bc     filters.BuildContext
}

var (
	registryMu sync.Mutex
	registry   = map[string]*loaded{}
)

func acquire(sp *spec, bc filters.BuildContext) *loaded {
	registryMu.Lock()
	defer registryMu.Unlock()
	if l := registry[sp.key]; l != nil {
		l.refs++
		return l
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &loaded{sp: sp, refs: 1, ready: make(chan struct{}), cancel: cancel, bc: bc}
	registry[sp.key] = l
	go l.load(ctx, bc)
	return l
}

func (l *loaded) release() {
	registryMu.Lock()
	l.refs--
	last := l.refs == 0
	if last {
		delete(registry, l.sp.key)
	}
	registryMu.Unlock()
	if !last {
		return
	}
	l.cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.plugin != nil {
		l.plugin.Close()
		l.plugin = nil
	}
}

// load gets the code and starts the plugin, retrying a failed download
// as retry_policy says (Envoy Gateway: 10 retries, 1 s to 30 s apart).
// A module that downloads but does not start is final: retrying the same
// bytes would fail the same way.
func (l *loaded) load(ctx context.Context, bc filters.BuildContext) {
	retries, backoff, maxBackoff := retryPolicy(l.sp.remote)
	first := true
	settle := func(p *abi.Plugin, err error) {
		l.mu.Lock()
		l.plugin, l.err = p, err
		l.mu.Unlock()
		if first {
			close(l.ready)
			first = false
		}
	}
	for attempt := 0; ; attempt++ {
		code, err := l.code(ctx, bc)
		if err == nil {
			p, err := l.start(ctx, code)
			if err != nil {
				l.sp.cfg.Logger.Error("wasm: the module failed to start", "err", err)
			}
			settle(p, err)
			return
		}
		l.sp.cfg.Logger.Warn("wasm: getting the module failed", "attempt", attempt+1, "err", err)
		if attempt >= retries || ctx.Err() != nil {
			settle(nil, err)
			return
		}
		if first {
			settle(nil, err) // requests fail now rather than wait for every retry
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (l *loaded) start(ctx context.Context, code []byte) (*abi.Plugin, error) {
	cfg := l.sp.cfg
	cfg.CompilationCache = compilationCache()
	cfg.Call = l.call
	p, err := abi.Load(ctx, code, cfg)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ctx.Err() != nil { // released while loading
		p.Close()
		return nil, ctx.Err()
	}
	return p, nil
}

func retryPolicy(r *corev3.RemoteDataSource) (retries int, base, maxB time.Duration) {
	retries, base, maxB = 1, time.Second, 10*time.Second
	rp := r.GetRetryPolicy()
	if rp == nil {
		return
	}
	if n := rp.GetNumRetries(); n != nil {
		retries = int(n.GetValue())
	}
	if b := rp.GetRetryBackOff(); b != nil {
		if d := b.GetBaseInterval().AsDuration(); d > 0 {
			base = d
		}
		if d := b.GetMaxInterval().AsDuration(); d > 0 {
			maxB = d
		}
	}
	return
}

// code returns the module's bytes: downloaded through the cluster and
// checked against the sha256 for remote code, read for local code.
func (l *loaded) code(ctx context.Context, bc filters.BuildContext) ([]byte, error) {
	sp := l.sp
	switch {
	case sp.local != nil:
		return sp.local, nil
	case sp.filename != "":
		return os.ReadFile(sp.filename)
	}
	uri := sp.remote.GetHttpUri()
	timeout := defaultFetch
	if d := uri.GetTimeout().AsDuration(); d > 0 {
		timeout = d
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri.GetUri(), nil)
	if err != nil {
		return nil, err
	}
	if bc.Upstreams == nil {
		return nil, errors.New("no clusters to download the module through")
	}
	// The cluster may arrive just after the listener that needs it.
	var resp *http.Response
	for {
		resp, err = bc.Upstreams().RoundTrip(uri.GetCluster(), req)
		if err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("downloading %s through cluster %s: %w", uri.GetUri(), uri.GetCluster(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("downloading %s: status %d", uri.GetUri(), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxModuleSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxModuleSize {
		return nil, fmt.Errorf("module at %s is larger than %d bytes", uri.GetUri(), maxModuleSize)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != sp.remote.GetSha256() {
		return nil, fmt.Errorf("module at %s has sha256 %s, want %s", uri.GetUri(), got, sp.remote.GetSha256())
	}
	return b, nil
}

// current returns the plugin after waiting for the first load (bounded by
// ctx and Options.WaitForLoad); nil with the reason when it cannot run.
func (l *loaded) current(ctx context.Context) (*abi.Plugin, error) {
	select {
	case <-l.ready:
	default:
		t := time.NewTimer(Options.WaitForLoad)
		defer t.Stop()
		select {
		case <-l.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, errors.New("the module is still loading")
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.plugin == nil && l.err == nil {
		return nil, errors.New("the module was unloaded")
	}
	return l.plugin, l.err
}
