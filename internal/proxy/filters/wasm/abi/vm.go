package abi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// rootContextID is every VM's root context (Envoy numbers contexts per VM).
const rootContextID = 1

// vmKey carries the VM of a guest call to the host functions it makes.
type vmKey struct{}

// VM is one instance of a plugin's module with its root context.
type VM struct {
	p     *Plugin
	mod   api.Module
	mem   api.Memory
	alloc api.Function
	fns   guestFuncs

	// mu serialises callbacks: a VM runs one at a time, as a worker
	// thread's VM does in Envoy.
	mu      sync.Mutex
	broken  atomic.Bool
	nextID  uint32
	streams map[uint32]*Stream
	// current is the effective context of the callback in progress.
	current uint32
	// calls are the proxy_http_calls made during the callback in progress.
	calls     []pendingCall
	nextToken uint32
	// callResp is the http-call response being delivered.
	callResp *CallResponse
	tick     atomic.Int64 // tick period in ns, set by the root context
	started  chan struct{}
	// ctx carries the VM to host functions (one value, made once); stop
	// cancels it, which is how the watchdog ends a call past its deadline.
	ctx  context.Context
	stop context.CancelFunc
	// deadline is when the callback in progress must end (unix ns, 0 when
	// idle); expired is set once the watchdog closed the module for it.
	deadline atomic.Int64
	expired  atomic.Bool
}

type pendingCall struct {
	token uint32
	ctx   uint32
	req   CallRequest
}

type guestFuncs struct {
	contextCreate, vmStart, configure, tick, done, log, del   api.Function
	reqHeaders, reqBody, reqTrailers                          api.Function
	respHeaders, respBody, respTrailers, callResponse, queued api.Function
}

func (p *Plugin) newVM(ctx context.Context) (*VM, error) {
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithStdout(&logWriter{log: p.log, level: slog.LevelInfo}).WithStderr(&logWriter{log: p.log, level: slog.LevelWarn}).
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader)
	for _, k := range sortedKeys(p.cfg.Env) {
		cfg = cfg.WithEnv(k, p.cfg.Env[k])
	}
	vm := &VM{p: p, nextID: rootContextID + 1, streams: map[uint32]*Stream{}, started: make(chan struct{})}
	base, stop := context.WithCancel(context.Background())
	vm.ctx, vm.stop = vm.callContext(base), stop
	mod, err := p.rt.InstantiateModule(vm.ctx, p.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiating the module: %w", err)
	}
	vm.mod, vm.mem = mod, mod.Memory()
	if vm.mem == nil {
		_ = mod.Close(ctx)
		return nil, errors.New("the module has no memory")
	}
	vm.alloc = mod.ExportedFunction("proxy_on_memory_allocate")
	if vm.alloc == nil {
		vm.alloc = mod.ExportedFunction("malloc")
	}
	if vm.alloc == nil {
		_ = mod.Close(ctx)
		return nil, errors.New("the module exports neither proxy_on_memory_allocate nor malloc")
	}
	f := mod.ExportedFunction
	vm.fns = guestFuncs{
		contextCreate: f("proxy_on_context_create"), vmStart: f("proxy_on_vm_start"), configure: f("proxy_on_configure"),
		tick: f("proxy_on_tick"), done: f("proxy_on_done"), log: f("proxy_on_log"), del: f("proxy_on_delete"),
		reqHeaders: f("proxy_on_request_headers"), reqBody: f("proxy_on_request_body"), reqTrailers: f("proxy_on_request_trailers"),
		respHeaders: f("proxy_on_response_headers"), respBody: f("proxy_on_response_body"), respTrailers: f("proxy_on_response_trailers"),
		callResponse: f("proxy_on_http_call_response"), queued: f("proxy_on_queue_ready"),
	}
	p.watch(vm)
	if err := vm.start(ctx); err != nil {
		p.unwatch(vm)
		_ = mod.Close(ctx)
		return nil, err
	}
	return vm, nil
}

// start runs the module's initialiser and creates the root context.
func (vm *VM) start(ctx context.Context) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.current = rootContextID
	timeout := vm.p.cfg.StartTimeout
	for _, name := range []string{"_initialize", "_start"} {
		if fn := vm.mod.ExportedFunction(name); fn != nil {
			if _, err := vm.callTimeout(ctx, timeout, fn); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			break
		}
	}
	if vm.fns.contextCreate == nil {
		return errors.New("the module does not export proxy_on_context_create")
	}
	if _, err := vm.callTimeout(ctx, timeout, vm.fns.contextCreate, rootContextID, 0); err != nil {
		return fmt.Errorf("proxy_on_context_create: %w", err)
	}
	if vm.fns.vmStart != nil {
		r, err := vm.callTimeout(ctx, timeout, vm.fns.vmStart, rootContextID, uint64(len(vm.p.cfg.VMConfiguration)))
		if err != nil {
			return fmt.Errorf("proxy_on_vm_start: %w", err)
		}
		if r == 0 {
			return errors.New("proxy_on_vm_start failed (the plugin returned false)")
		}
	}
	if vm.fns.configure != nil {
		r, err := vm.callTimeout(ctx, timeout, vm.fns.configure, rootContextID, uint64(len(vm.p.cfg.Configuration)))
		if err != nil {
			return fmt.Errorf("proxy_on_configure: %w", err)
		}
		if r == 0 {
			return errors.New("proxy_on_configure failed (the plugin rejected its configuration)")
		}
	}
	vm.dispatchCallsLocked(ctx)
	return nil
}

// callContext is ctx carrying the VM for host functions.
func (vm *VM) callContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, vmKey{}, vm)
}

// call runs a guest function under the per-call deadline. Any failure (a
// trap, the deadline, the module exiting) breaks the VM: its memory may be
// half-updated, so it is never called again.
func (vm *VM) call(ctx context.Context, fn api.Function, args ...uint64) (uint64, error) {
	return vm.callTimeout(ctx, vm.p.cfg.CallTimeout, fn, args...)
}

// callTimeout runs fn with a deadline the plugin's watchdog enforces by
// closing the module (the runtime compiles in the checks that make a
// running call stop then). A context deadline per call would cost a timer
// and a goroutine per callback; the request's context is not used for
// the same reason: a callback's time is bounded by d alone.
func (vm *VM) callTimeout(_ context.Context, d time.Duration, fn api.Function, args ...uint64) (uint64, error) {
	if vm.broken.Load() {
		return 0, errBroken
	}
	if fn == nil {
		return 0, nil
	}
	vm.deadline.Store(time.Now().Add(d).UnixNano())
	res, err := fn.Call(vm.ctx, args...)
	vm.deadline.Store(0)
	if err != nil {
		if vm.expired.Load() {
			err = fmt.Errorf("the call ran past its deadline of %v", d)
		}
		vm.fail(err)
		return 0, err
	}
	if len(res) == 0 {
		return 0, nil
	}
	return res[0], nil
}

// expire ends a call past its deadline by cancelling the VM's context:
// wazero then marks the module closed and the running call stops at its
// next check, releasing the module's resources on the calling goroutine.
// Closing the module from here instead would free them under the running
// call (the race detector sees a host function read the freed system
// context).
func (vm *VM) expire(now int64) {
	if d := vm.deadline.Load(); d != 0 && now > d && !vm.expired.Swap(true) {
		vm.stop()
	}
}

var errBroken = errors.New("the VM failed earlier and is being replaced")

// fail marks the VM broken and has the plugin replace it.
func (vm *VM) fail(err error) {
	if vm.broken.Swap(true) {
		return
	}
	vm.p.log.Error("wasm: VM failed; replacing it", "err", err)
	vm.p.vmFailures.Add(1)
	go func() {
		vm.p.unwatch(vm)
		vm.stop()
		_ = vm.mod.Close(context.Background())
		vm.p.replace(vm)
	}()
}

// read copies guest memory; ok is false for an out-of-bounds range.
func (vm *VM) read(ptr, size uint32) ([]byte, bool) {
	b, ok := vm.mem.Read(ptr, size)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

func (vm *VM) readString(ptr, size uint32) (string, bool) {
	b, ok := vm.mem.Read(ptr, size)
	if !ok {
		return "", false
	}
	return string(b), true
}

// writeOut hands data to the guest: it is copied into memory the guest
// allocates, and its address and length are stored at ptrPtr and lenPtr.
func (vm *VM) writeOut(ctx context.Context, data []byte, ptrPtr, lenPtr uint32) Status {
	var ptr uint32
	if len(data) > 0 {
		res, err := vm.alloc.Call(ctx, uint64(len(data)))
		if err != nil || len(res) == 0 {
			return StatusInternalFailure
		}
		ptr = uint32(res[0])
		if !vm.mem.Write(ptr, data) {
			return StatusInvalidMemoryAccess
		}
	}
	if !vm.mem.WriteUint32Le(ptrPtr, ptr) || !vm.mem.WriteUint32Le(lenPtr, uint32(len(data))) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

// stream is the stream of the effective context (nil for the root).
func (vm *VM) stream() *Stream { return vm.streams[vm.current] }

// dispatchCallsLocked runs the http calls the last callback made and
// delivers their responses, until no call is pending. It is entered and
// left holding vm.mu, which it releases while a call is in flight so
// that other streams of the VM go on.
func (vm *VM) dispatchCallsLocked(ctx context.Context) {
	for len(vm.calls) > 0 && !vm.broken.Load() {
		c := vm.calls[0]
		vm.calls = vm.calls[1:]
		vm.mu.Unlock()
		resp, err := vm.p.callCluster(ctx, c.req)
		vm.mu.Lock()
		if vm.broken.Load() {
			return
		}
		if err != nil {
			vm.p.log.Warn("wasm: http call failed", "cluster", c.req.Cluster, "err", err)
			resp = CallResponse{}
		}
		// The response goes to the root context, which makes the caller's
		// context effective itself (proxy_set_effective_context).
		vm.current = rootContextID
		vm.callResp = &resp
		_, _ = vm.call(ctx, vm.fns.callResponse, rootContextID, uint64(c.token), uint64(len(resp.Headers)),
			uint64(len(resp.Body)), uint64(len(resp.Trailers)))
		vm.callResp = nil
	}
}

// logWriter turns WASI stdout/stderr into log lines; a guest writes a
// line in many small pieces, so it is buffered up to each newline.
type logWriter struct {
	log   *slog.Logger
	level slog.Level
	mu    sync.Mutex
	buf   []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log.Log(context.Background(), w.level, "wasm: "+string(bytes.TrimRight(w.buf[:i], "\r")))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 { // a guest that never ends its line
		w.log.Log(context.Background(), w.level, "wasm: "+string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}
