package abi

import (
	"context"
	"sync"
)

// Shared data and queues are per process and keyed by vm_id, as in Envoy:
// every VM of a plugin (and of any plugin with the same vm_id) sees them.
var shared = &sharedState{data: map[string]map[string]*sharedValue{}, queues: map[uint32]*queue{}, queueIDs: map[string]uint32{}}

type sharedState struct {
	mu       sync.Mutex
	data     map[string]map[string]*sharedValue
	queues   map[uint32]*queue
	queueIDs map[string]uint32 // vm_id NUL name -> id
	nextID   uint32
}

type sharedValue struct {
	value []byte
	cas   uint32
}

type queue struct {
	items [][]byte
	owner *VM // the VM whose root context registered it
}

func defineShared() {
	def("proxy_get_shared_data", 5, func(ctx context.Context, vm *VM, a []uint32) Status {
		k, ok := vm.readString(a[0], a[1])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		shared.mu.Lock()
		v := shared.data[vm.p.cfg.VMID][k]
		var val []byte
		var cas uint32
		if v != nil {
			val, cas = v.value, v.cas
		}
		shared.mu.Unlock()
		if v == nil {
			return StatusNotFound
		}
		if st := vm.writeOut(ctx, val, a[2], a[3]); st != StatusOK {
			return st
		}
		if !vm.mem.WriteUint32Le(a[4], cas) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
	def("proxy_set_shared_data", 5, func(_ context.Context, vm *VM, a []uint32) Status {
		k, ok1 := vm.readString(a[0], a[1])
		val, ok2 := vm.read(a[2], a[3])
		if !ok1 || !ok2 {
			return StatusInvalidMemoryAccess
		}
		shared.mu.Lock()
		defer shared.mu.Unlock()
		m := shared.data[vm.p.cfg.VMID]
		if m == nil {
			m = map[string]*sharedValue{}
			shared.data[vm.p.cfg.VMID] = m
		}
		cur := m[k]
		if a[4] != 0 && (cur == nil || cur.cas != a[4]) {
			return StatusCASMismatch
		}
		next := uint32(1)
		if cur != nil {
			next = cur.cas + 1
		}
		m[k] = &sharedValue{value: val, cas: next}
		return StatusOK
	})
	def("proxy_register_shared_queue", 3, func(_ context.Context, vm *VM, a []uint32) Status {
		name, ok := vm.readString(a[0], a[1])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		shared.mu.Lock()
		key := vm.p.cfg.VMID + "\x00" + name
		id, exists := shared.queueIDs[key]
		if !exists {
			shared.nextID++
			id = shared.nextID
			shared.queueIDs[key] = id
			shared.queues[id] = &queue{}
		}
		shared.queues[id].owner = vm
		shared.mu.Unlock()
		if !vm.mem.WriteUint32Le(a[2], id) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
	def("proxy_resolve_shared_queue", 5, func(_ context.Context, vm *VM, a []uint32) Status {
		vmID, ok1 := vm.readString(a[0], a[1])
		name, ok2 := vm.readString(a[2], a[3])
		if !ok1 || !ok2 {
			return StatusInvalidMemoryAccess
		}
		if vmID == "" {
			vmID = vm.p.cfg.VMID
		}
		shared.mu.Lock()
		id, exists := shared.queueIDs[vmID+"\x00"+name]
		shared.mu.Unlock()
		if !exists {
			return StatusNotFound
		}
		if !vm.mem.WriteUint32Le(a[4], id) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
	def("proxy_enqueue_shared_queue", 3, func(_ context.Context, vm *VM, a []uint32) Status {
		val, ok := vm.read(a[1], a[2])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		shared.mu.Lock()
		q := shared.queues[a[0]]
		if q == nil {
			shared.mu.Unlock()
			return StatusNotFound
		}
		q.items = append(q.items, val)
		owner := q.owner
		shared.mu.Unlock()
		if owner != nil {
			// Delivered later, on the owner's root context: the owner
			// may be the VM running this very callback.
			go owner.queueReady(a[0])
		}
		return StatusOK
	})
	def("proxy_dequeue_shared_queue", 3, func(ctx context.Context, vm *VM, a []uint32) Status {
		shared.mu.Lock()
		q := shared.queues[a[0]]
		if q == nil {
			shared.mu.Unlock()
			return StatusNotFound
		}
		if len(q.items) == 0 {
			shared.mu.Unlock()
			return StatusEmpty
		}
		item := q.items[0]
		q.items = q.items[1:]
		shared.mu.Unlock()
		return vm.writeOut(ctx, item, a[1], a[2])
	})
}

// queueReady is proxy_on_queue_ready on the VM's root context.
func (vm *VM) queueReady(id uint32) {
	if vm.broken.Load() || vm.fns.queued == nil || vm.p.ctx.Err() != nil {
		return
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.current = rootContextID
	_, _ = vm.call(vm.p.ctx, vm.fns.queued, rootContextID, uint64(id))
	vm.dispatchCallsLocked(vm.p.ctx)
}
