package abi

import (
	"context"
	"strings"
	"sync"
)

// headerMap is the map of type t for the effective context: the http-call
// response's for types 6 and 7, the stream's otherwise.
func (vm *VM) headerMap(t MapType) HeaderMap {
	switch t {
	case HTTPCallResponseHeaders, HTTPCallResponseTrailers:
		if vm.callResp == nil {
			return nil
		}
		if t == HTTPCallResponseHeaders {
			return &pairsMap{pairs: &vm.callResp.Headers}
		}
		return &pairsMap{pairs: &vm.callResp.Trailers}
	}
	s := vm.stream()
	if s == nil {
		return nil
	}
	return s.host.HeaderMap(t)
}

func defineHeaders() {
	def("proxy_get_header_map_pairs", 3, func(ctx context.Context, vm *VM, a []uint32) Status {
		hm := vm.headerMap(MapType(a[0]))
		if hm == nil {
			return StatusNotFound
		}
		return vm.writeOut(ctx, EncodePairs(hm.Pairs()), a[1], a[2])
	})
	def("proxy_set_header_map_pairs", 3, func(_ context.Context, vm *VM, a []uint32) Status {
		hm := vm.headerMap(MapType(a[0]))
		if hm == nil {
			return StatusNotFound
		}
		b, ok := vm.read(a[1], a[2])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		pairs, err := DecodePairs(b)
		if err != nil {
			return StatusBadArgument
		}
		hm.SetPairs(pairs)
		return StatusOK
	})
	def("proxy_get_header_map_size", 2, func(_ context.Context, vm *VM, a []uint32) Status {
		hm := vm.headerMap(MapType(a[0]))
		if hm == nil {
			return StatusNotFound
		}
		if !vm.mem.WriteUint32Le(a[1], uint32(len(EncodePairs(hm.Pairs())))) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
	def("proxy_get_header_map_value", 5, func(ctx context.Context, vm *VM, a []uint32) Status {
		hm := vm.headerMap(MapType(a[0]))
		if hm == nil {
			return StatusNotFound
		}
		k, ok := vm.readString(a[1], a[2])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		v, found := hm.Get(strings.ToLower(k))
		if !found {
			return StatusNotFound
		}
		return vm.writeOut(ctx, []byte(v), a[3], a[4])
	})
	edit := func(name string, n int, apply func(hm HeaderMap, k, v string)) {
		def(name, n, func(_ context.Context, vm *VM, a []uint32) Status {
			hm := vm.headerMap(MapType(a[0]))
			if hm == nil {
				return StatusNotFound
			}
			k, ok := vm.readString(a[1], a[2])
			if !ok {
				return StatusInvalidMemoryAccess
			}
			var v string
			if n == 5 {
				if v, ok = vm.readString(a[3], a[4]); !ok {
					return StatusInvalidMemoryAccess
				}
			}
			// Envoy stores header names in lower case.
			apply(hm, strings.ToLower(k), v)
			return StatusOK
		})
	}
	edit("proxy_add_header_map_value", 5, func(hm HeaderMap, k, v string) { hm.Add(k, v) })
	edit("proxy_replace_header_map_value", 5, func(hm HeaderMap, k, v string) { hm.Replace(k, v) })
	edit("proxy_remove_header_map_value", 3, func(hm HeaderMap, k, _ string) { hm.Remove(k) })
}

// buffer is the buffer of type t: the configurations, the http-call
// response body, or the stream's body.
func (vm *VM) buffer(t BufferType) *[]byte {
	switch t {
	case VMConfiguration:
		return &vm.p.cfg.VMConfiguration
	case PluginConfiguration:
		return &vm.p.cfg.Configuration
	case HTTPCallResponseBody:
		if vm.callResp == nil {
			return nil
		}
		return &vm.callResp.Body
	case RequestBody, ResponseBody:
		if s := vm.stream(); s != nil {
			return s.host.Body(t)
		}
	}
	return nil
}

func defineBuffers() {
	def("proxy_get_buffer_bytes", 5, func(ctx context.Context, vm *VM, a []uint32) Status {
		b := vm.buffer(BufferType(a[0]))
		if b == nil {
			return StatusNotFound
		}
		start, size := uint64(a[1]), uint64(a[2])
		if start > uint64(len(*b)) {
			return StatusBadArgument
		}
		end := min(start+size, uint64(len(*b)))
		return vm.writeOut(ctx, (*b)[start:end], a[3], a[4])
	})
	def("proxy_get_buffer_status", 3, func(_ context.Context, vm *VM, a []uint32) Status {
		b := vm.buffer(BufferType(a[0]))
		if b == nil {
			return StatusNotFound
		}
		if !vm.mem.WriteUint32Le(a[1], uint32(len(*b))) || !vm.mem.WriteUint32Le(a[2], 0) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	})
	def("proxy_set_buffer_bytes", 5, func(_ context.Context, vm *VM, a []uint32) Status {
		t := BufferType(a[0])
		if t != RequestBody && t != ResponseBody {
			return StatusBadArgument
		}
		b := vm.buffer(t)
		if b == nil {
			return StatusNotFound
		}
		data, ok := vm.read(a[3], a[4])
		if !ok {
			return StatusInvalidMemoryAccess
		}
		return replaceBytes(b, int(a[1]), int(a[2]), data)
	})
	def("proxy_get_configuration", 2, func(ctx context.Context, vm *VM, a []uint32) Status { // ABI 0.1.0
		return vm.writeOut(ctx, vm.p.cfg.Configuration, a[0], a[1])
	})
}

// replaceBytes is Envoy's rule for proxy_set_buffer_bytes: at start 0 the
// first size bytes are replaced by data (all of them when size is larger
// than the buffer); at or past the end data is appended; anything else is
// a bad argument.
func replaceBytes(b *[]byte, start, size int, data []byte) Status {
	switch {
	case start == 0:
		size = min(max(size, 0), len(*b))
		rest := (*b)[size:]
		out := make([]byte, 0, len(data)+len(rest))
		*b = append(append(out, data...), rest...)
	case start >= len(*b):
		*b = append(*b, data...)
	default:
		return StatusBadArgument
	}
	return StatusOK
}

// pairsMap is a HeaderMap over a slice (http-call responses).
type pairsMap struct{ pairs *[][2]string }

func (m *pairsMap) Pairs() [][2]string { return *m.pairs }
func (m *pairsMap) Get(k string) (string, bool) {
	for _, p := range *m.pairs {
		if strings.EqualFold(p[0], k) {
			return p[1], true
		}
	}
	return "", false
}
func (m *pairsMap) Add(k, v string) { *m.pairs = append(*m.pairs, [2]string{k, v}) }
func (m *pairsMap) Replace(k, v string) {
	m.Remove(k)
	m.Add(k, v)
}
func (m *pairsMap) Remove(k string) {
	out := (*m.pairs)[:0]
	for _, p := range *m.pairs {
		if !strings.EqualFold(p[0], k) {
			out = append(out, p)
		}
	}
	*m.pairs = out
}
func (m *pairsMap) SetPairs(p [][2]string) { *m.pairs = p }

// metrics are a plugin's counters, gauges and histograms (the last value).
type metrics struct {
	mu     sync.Mutex
	byName map[string]uint32
	values []int64
}

func (m *metrics) define(_ uint32, name string) uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName == nil {
		m.byName = map[string]uint32{}
	}
	if id, ok := m.byName[name]; ok {
		return id
	}
	m.values = append(m.values, 0)
	id := uint32(len(m.values))
	m.byName[name] = id
	return id
}

func (m *metrics) add(id uint32, d int64) Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 || int(id) > len(m.values) {
		return StatusNotFound
	}
	m.values[id-1] += d
	return StatusOK
}

func (m *metrics) set(id uint32, v int64) Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 || int(id) > len(m.values) {
		return StatusNotFound
	}
	m.values[id-1] = v
	return StatusOK
}

func (m *metrics) get(id uint32) (int64, Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 || int(id) > len(m.values) {
		return 0, StatusNotFound
	}
	return m.values[id-1], StatusOK
}
