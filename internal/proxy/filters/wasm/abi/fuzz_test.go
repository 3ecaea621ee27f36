package abi

import (
	"context"
	"encoding/binary"
	"testing"
	"time"
)

// FuzzHostMemory calls every host function with hostile arguments
// (pointers and lengths anywhere, past the end of memory, overflowing),
// on a real VM of the corpus plugin, inside a stream and in the root
// context. A host function must answer a status and never panic; the
// guest's memory is the guest's to lose.
func FuzzHostMemory(f *testing.F) {
	p := loadCorpus(f, "my_root_id", 1)
	vm := p.vms[0]
	memSize := vm.mem.Size()
	seed := func(which uint8, args ...uint32) {
		b := make([]byte, 4*len(args))
		for i, a := range args {
			binary.LittleEndian.PutUint32(b[4*i:], a)
		}
		f.Add(which, true, b)
	}
	for i := range hostFunctions {
		seed(uint8(i), memSize-1, 2, memSize-4, memSize)
		seed(uint8(i), 0xffffffff, 0xffffffff, 0, 0xfffffff0, 8)
		seed(uint8(i), 0, 0, 16, 16, 32, 4, 0, 0, 0, 64)
	}
	f.Fuzz(func(t *testing.T, which uint8, inStream bool, raw []byte) {
		if vm.mod.IsClosed() || vm.broken.Load() {
			fresh, err := p.newVM(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			vm = fresh
		}
		hf := hostFunctions[int(which)%len(hostFunctions)]
		stack := make([]uint64, max(len(hf.params), len(hf.results), 1))
		for i := range hf.params {
			if 4*i+4 <= len(raw) {
				stack[i] = uint64(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
		ctx, cancel := context.WithTimeout(vm.callContext(context.Background()), time.Second)
		defer cancel()
		vm.mu.Lock()
		defer vm.mu.Unlock()
		vm.current = rootContextID
		if inStream {
			h := newTestHost([][2]string{{":path", "/"}})
			body := []byte("body")
			h.bodies[RequestBody] = &body
			vm.streams[99] = &Stream{vm: vm, id: 99, host: h, resumed: make(chan struct{}, 1)}
			defer delete(vm.streams, 99)
			vm.current = 99
		}
		vm.calls = nil
		hf.fn(ctx, vm.mod, stack)
		if len(hf.results) == 1 && hf.results[0] == i32 && stack[0] > uint64(StatusUnimplemented) {
			t.Fatalf("%s answered %d", hf.name, stack[0])
		}
	})
}
