// Package stats holds the built-in proxy's counters, named as Envoy names
// its stats (cluster.<name>.grpc.<service>.<method>.success, ...), so
// that what a filter counts reads the same as Envoy's /stats would.
package stats

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Store is a set of named counters, safe for concurrent use. The zero
// value is not usable: use New. A nil *Store counts nothing, so filters
// built without one (their own tests) need no check.
type Store struct {
	counters sync.Map // name -> *atomic.Uint64
}

// New returns an empty store.
func New() *Store { return &Store{} }

// Add adds n to the counter name, creating it at zero first.
func (s *Store) Add(name string, n uint64) {
	if s == nil {
		return
	}
	c, ok := s.counters.Load(name)
	if !ok {
		c, _ = s.counters.LoadOrStore(name, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(n)
}

// Inc adds one to the counter name.
func (s *Store) Inc(name string) { s.Add(name, 1) }

// Counter is one counter's value at the time of a Snapshot.
type Counter struct {
	Name  string
	Value uint64
}

// Snapshot returns every counter, sorted by name.
func (s *Store) Snapshot() []Counter {
	if s == nil {
		return nil
	}
	var out []Counter
	s.counters.Range(func(k, v any) bool {
		out = append(out, Counter{Name: k.(string), Value: v.(*atomic.Uint64).Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get is the value of one counter (0 when it does not exist).
func (s *Store) Get(name string) uint64 {
	if s == nil {
		return 0
	}
	if c, ok := s.counters.Load(name); ok {
		return c.(*atomic.Uint64).Load()
	}
	return 0
}
