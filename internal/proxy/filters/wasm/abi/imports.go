package abi

import (
	"context"
	"encoding/binary"
	"log/slog"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// hostFunc is one function of the "env" module the ABI defines.
type hostFunc struct {
	name            string
	params, results []api.ValueType
	fn              api.GoModuleFunc
}

// hostFunctions is every ABI function the host provides, built once. A
// table rather than a switch: adding a function is one entry.
var hostFunctions []hostFunc

var i32, i64 = api.ValueTypeI32, api.ValueTypeI64

// call is a host function over i32 arguments that returns a Status, run
// with the VM of the call.
type call func(ctx context.Context, vm *VM, a []uint32) Status

// def registers a function of n i32 parameters returning an i32 status.
func def(name string, n int, f call) {
	params := make([]api.ValueType, n)
	for i := range params {
		params[i] = i32
	}
	hostFunctions = append(hostFunctions, hostFunc{name: name, params: params, results: []api.ValueType{i32},
		fn: func(ctx context.Context, _ api.Module, stack []uint64) {
			vm, _ := ctx.Value(vmKey{}).(*VM)
			if vm == nil {
				stack[0] = uint64(StatusInternalFailure)
				return
			}
			var buf [12]uint32
			a := buf[:n]
			for i := range a {
				a[i] = uint32(stack[i])
			}
			stack[0] = uint64(f(ctx, vm, a))
		}})
}

// raw registers a function with its own signature.
func raw(name string, params, results []api.ValueType, f func(ctx context.Context, vm *VM, stack []uint64)) {
	hostFunctions = append(hostFunctions, hostFunc{name: name, params: params, results: results,
		fn: func(ctx context.Context, _ api.Module, stack []uint64) {
			vm, _ := ctx.Value(vmKey{}).(*VM)
			if vm == nil {
				if len(results) > 0 {
					stack[0] = uint64(StatusInternalFailure)
				}
				return
			}
			f(ctx, vm, stack)
		}})
}

func unimplementedFn(name string, n int) {
	def(name, n, func(context.Context, *VM, []uint32) Status { return StatusUnimplemented })
}

func init() {
	defineLifecycle()
	defineHeaders()
	defineBuffers()
	defineStream()
	defineShared()
	defineMetrics()
	// gRPC calls and foreign functions: present so that modules using
	// them load; they answer UNIMPLEMENTED (gRPC) or NOT_FOUND (no
	// foreign function is registered), as Envoy does for unknown names.
	unimplementedFn("proxy_grpc_call", 12)
	unimplementedFn("proxy_grpc_stream", 9)
	unimplementedFn("proxy_grpc_send", 4)
	unimplementedFn("proxy_grpc_cancel", 1)
	unimplementedFn("proxy_grpc_close", 1)
	unimplementedFn("proxy_get_status", 3)
	def("proxy_call_foreign_function", 6, func(context.Context, *VM, []uint32) Status { return StatusNotFound })
}

func defineLifecycle() {
	def("proxy_log", 3, func(_ context.Context, vm *VM, a []uint32) Status {
		// The message is checked as Envoy checks it, but copied out of
		// the guest only when its level is logged: a plugin logging every
		// request at info costs nothing under Envoy Gateway's warn.
		msg, ok := vm.mem.Read(a[1], a[2])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		if level := LogLevel(a[0]).Slog(); vm.p.log.Enabled(context.Background(), level) {
			vm.p.log.Log(context.Background(), level, string(msg))
		}
		return StatusOK
	})
	def("proxy_get_log_level", 1, func(_ context.Context, vm *VM, a []uint32) Status {
		if !vm.mem.WriteUint32Le(a[0], uint32(logThreshold(vm.p.log))) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
	def("proxy_get_current_time_nanoseconds", 1, func(_ context.Context, vm *VM, a []uint32) Status {
		if !vm.mem.WriteUint64Le(a[0], uint64(time.Now().UnixNano())) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
	def("proxy_set_tick_period_milliseconds", 1, func(_ context.Context, vm *VM, a []uint32) Status {
		vm.tick.Store(int64(a[0]) * int64(time.Millisecond))
		return StatusOK
	})
	def("proxy_set_effective_context", 1, func(_ context.Context, vm *VM, a []uint32) Status {
		if a[0] != rootContextID && vm.streams[a[0]] == nil {
			return StatusBadArgument
		}
		vm.current = a[0]
		return StatusOK
	})
	def("proxy_done", 0, func(context.Context, *VM, []uint32) Status { return StatusOK })
	def("proxy_get_property", 4, func(ctx context.Context, vm *VM, a []uint32) Status {
		path, ok := vm.read(a[0], a[1])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		v, found := vm.property(strings.Split(strings.TrimSuffix(string(path), "\x00"), "\x00"))
		if !found {
			return StatusNotFound
		}
		return vm.writeOut(ctx, v, a[2], a[3])
	})
	def("proxy_set_property", 4, func(_ context.Context, vm *VM, a []uint32) Status {
		path, ok1 := vm.readString(a[0], a[1])
		val, ok2 := vm.read(a[2], a[3])
		if !ok1 || !ok2 {
			return StatusInvalidMemoryAccess
		}
		s := vm.stream()
		if s == nil {
			return StatusBadArgument
		}
		if s.props == nil {
			s.props = map[string][]byte{}
		}
		s.props[strings.TrimSuffix(path, "\x00")] = val
		return StatusOK
	})
}

// property answers the plugin_* attributes, then the stream's own (what
// it set, then the proxy's).
func (vm *VM) property(path []string) ([]byte, bool) {
	if len(path) == 1 {
		switch path[0] {
		case "plugin_name":
			return []byte(vm.p.cfg.Name), true
		case "plugin_root_id":
			return []byte(vm.p.cfg.RootID), true
		case "plugin_vm_id":
			return []byte(vm.p.cfg.VMID), true
		}
	}
	s := vm.stream()
	if s == nil {
		return nil, false
	}
	if v, ok := s.props[strings.Join(path, "\x00")]; ok {
		return v, true
	}
	return s.host.Property(path)
}

func defineStream() {
	def("proxy_send_local_response", 8, func(_ context.Context, vm *VM, a []uint32) Status {
		s := vm.stream()
		if s == nil {
			return StatusBadArgument
		}
		details, ok1 := vm.readString(a[1], a[2])
		body, ok2 := vm.read(a[3], a[4])
		hb, ok3 := vm.read(a[5], a[6])
		if !ok1 || !ok2 || !ok3 {
			return StatusInvalidMemoryAccess
		}
		headers, err := DecodePairs(hb)
		if err != nil {
			return StatusBadArgument
		}
		s.replied = true
		s.host.SendLocalResponse(LocalResponse{Status: int(a[0]), Details: details, Body: body, Headers: headers})
		return StatusOK
	})
	resume := func(_ context.Context, vm *VM, _ []uint32) Status {
		s := vm.stream()
		if s == nil {
			return StatusBadArgument
		}
		s.continued = true
		select {
		case s.resumed <- struct{}{}:
		default:
		}
		return StatusOK
	}
	def("proxy_continue_stream", 1, resume)
	def("proxy_continue_request", 0, resume)  // ABI 0.1.0 name
	def("proxy_continue_response", 0, resume) // ABI 0.1.0 name
	def("proxy_clear_route_cache", 0, func(context.Context, *VM, []uint32) Status { return StatusOK })
	def("proxy_close_stream", 1, func(ctx context.Context, vm *VM, a []uint32) Status {
		s := vm.stream()
		if s == nil {
			return StatusBadArgument
		}
		s.closed = true
		return resume(ctx, vm, a)
	})
	httpCall := func(_ context.Context, vm *VM, a []uint32) Status {
		up, ok1 := vm.readString(a[0], a[1])
		hb, ok2 := vm.read(a[2], a[3])
		body, ok3 := vm.read(a[4], a[5])
		tb, ok4 := vm.read(a[6], a[7])
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return StatusInvalidMemoryAccess
		}
		headers, err1 := DecodePairs(hb)
		trailers, err2 := DecodePairs(tb)
		if err1 != nil || err2 != nil {
			return StatusBadArgument
		}
		if !hasPseudo(headers, ":method") || !hasPseudo(headers, ":path") || !hasPseudo(headers, ":authority") {
			return StatusBadArgument
		}
		vm.nextToken++
		token := vm.nextToken
		if !vm.mem.WriteUint32Le(a[9], token) {
			return StatusInvalidMemoryAccess
		}
		vm.calls = append(vm.calls, pendingCall{token: token, ctx: vm.current,
			req: CallRequest{Cluster: up, Headers: headers, Body: body, Trailers: trailers, Timeout: a[8]}})
		return StatusOK
	}
	def("proxy_http_call", 10, httpCall)
	def("proxy_dispatch_http_call", 10, httpCall)
}

func hasPseudo(pairs [][2]string, name string) bool {
	for _, p := range pairs {
		if p[0] == name && p[1] != "" {
			return true
		}
	}
	return false
}

func defineMetrics() {
	def("proxy_define_metric", 4, func(_ context.Context, vm *VM, a []uint32) Status {
		name, ok := vm.readString(a[1], a[2])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		if !vm.mem.WriteUint32Le(a[3], vm.p.metrics.define(a[0], name)) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
	raw("proxy_increment_metric", []api.ValueType{i32, i64}, []api.ValueType{i32}, func(_ context.Context, vm *VM, st []uint64) {
		st[0] = uint64(vm.p.metrics.add(uint32(st[0]), int64(st[1])))
	})
	raw("proxy_record_metric", []api.ValueType{i32, i64}, []api.ValueType{i32}, func(_ context.Context, vm *VM, st []uint64) {
		st[0] = uint64(vm.p.metrics.set(uint32(st[0]), int64(st[1])))
	})
	def("proxy_get_metric", 2, func(_ context.Context, vm *VM, a []uint32) Status {
		v, st := vm.p.metrics.get(a[0])
		if st != StatusOK {
			return st
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		if !vm.mem.Write(a[1], b[:]) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
}

// logThreshold is the lowest Envoy level l logs, which SDKs read to skip
// formatting messages that would be dropped.
func logThreshold(l *slog.Logger) LogLevel {
	for _, level := range []LogLevel{LogDebug, LogInfo, LogWarn, LogError} {
		if l.Enabled(context.Background(), level.Slog()) {
			return level
		}
	}
	return LogCritical
}
