package lua

import (
	"unsafe"

	glua "github.com/yuin/gopher-lua"
)

// Approximate sizes of gopher-lua's objects, for heldBytes.
const (
	objectBytes = 64 // a table, function, userdata or thread header
	slotBytes   = 32 // one table entry, upvalue or register
)

// heldBytes estimates the memory L's script holds: every value reachable
// from the globals, the registry, and the locals, temporaries and upvalues
// of every frame of the running coroutine and the ones that resumed it.
// Strings count by length once however often they are referenced. Not
// seen: a vararg list still on the stack (the budget's raw allocation
// bound covers what hides there).
//
// The meter calls it only when the process's allocation says the call may
// be over budget, to tell a script that holds too much from one that ran
// while something else allocated (see budget.Meter.Measure).
func heldBytes(L *glua.LState) int64 {
	w := walker{seen: map[any]struct{}{}, strs: map[*byte]struct{}{}}
	w.push(L.G.Global)
	w.push(L.G.Registry)
	for th := L.G.CurrentThread; th != nil; th = th.Parent {
		w.push(th)
	}
	w.push(L.G.MainThread)
	w.walk()
	return w.n
}

type walker struct {
	n     int64
	stack []glua.LValue
	seen  map[any]struct{}
	strs  map[*byte]struct{}
}

func (w *walker) push(v glua.LValue) {
	switch v := v.(type) {
	case glua.LString:
		if len(v) < 256 {
			w.n += int64(len(v)) + 16
			return
		}
		p := unsafe.StringData(string(v))
		if _, ok := w.strs[p]; !ok {
			w.strs[p] = struct{}{}
			w.n += int64(len(v)) + 16
		}
	case *glua.LTable, *glua.LFunction, *glua.LUserData, *glua.LState:
		if _, ok := w.seen[v]; !ok {
			w.seen[v] = struct{}{}
			w.n += objectBytes
			w.stack = append(w.stack, v)
		}
	}
}

func (w *walker) walk() {
	for len(w.stack) > 0 {
		v := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		switch v := v.(type) {
		case *glua.LTable:
			v.ForEach(func(k, val glua.LValue) {
				w.n += slotBytes
				w.push(k)
				w.push(val)
			})
			w.push(v.Metatable)
		case *glua.LFunction:
			for _, uv := range v.Upvalues {
				w.n += slotBytes
				w.push(uv.Value())
			}
		case *glua.LUserData:
			w.push(v.Metatable)
		case *glua.LState:
			w.frames(v)
		}
	}
}

// frames visits a thread's stack: each frame's function and its locals
// and temporaries.
func (w *walker) frames(th *glua.LState) {
	for level := 0; ; level++ {
		dbg, ok := th.GetStack(level)
		if !ok {
			return
		}
		if fn, err := th.GetInfo("f", dbg, glua.LNil); err == nil {
			w.push(fn)
		}
		for n := 1; ; n++ {
			name, v := th.GetLocal(dbg, n)
			if name == "" {
				break
			}
			w.n += slotBytes
			w.push(v)
		}
	}
}
