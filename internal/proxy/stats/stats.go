// Package stats holds the built-in proxy's counters and gauges, named as
// Envoy names its stats (http.<stat_prefix>.downstream_rq_total,
// cluster.<name>.upstream_rq_2xx, cluster.<name>.grpc.<service>.<method>.success,
// ...), so that what the proxy counts reads the same as Envoy's /stats.
//
// The request path never looks a name up: the components resolve their
// *Counter and *Gauge when a config is compiled (Store.Counter returns
// the same object for the same name, so a recompiled cluster keeps
// counting where it was, as Envoy's stats outlive config updates) and
// then only add to an atomic.
package stats

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Counter only goes up. A nil *Counter counts nothing, so components
// built without a store (their own tests) need no check.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() {
	if c != nil {
		c.v.Add(1)
	}
}

// Add adds n.
func (c *Counter) Add(n uint64) {
	if c != nil {
		c.v.Add(n)
	}
}

// Value is the count so far (0 for a nil counter).
func (c *Counter) Value() uint64 {
	if c == nil {
		return 0
	}
	return c.v.Load()
}

// Gauge goes up and down (active connections, ...). A nil *Gauge keeps
// nothing.
type Gauge struct{ v atomic.Int64 }

// Add adds n (negative: subtracts).
func (g *Gauge) Add(n int64) {
	if g != nil {
		g.v.Add(n)
	}
}

// Set sets the value.
func (g *Gauge) Set(n int64) {
	if g != nil {
		g.v.Store(n)
	}
}

// Value is the current value (0 for a nil gauge).
func (g *Gauge) Value() int64 {
	if g == nil {
		return 0
	}
	return g.v.Load()
}

// Store is a set of named counters and gauges, safe for concurrent use.
// The zero value is not usable: use New. A nil *Store hands out nil
// counters and gauges.
type Store struct {
	counters sync.Map // name -> *Counter
	gauges   sync.Map // name -> *Gauge
	mu       sync.Mutex
	funcs    map[string]func() int64 // gauges computed when read
}

// New returns an empty store.
func New() *Store { return &Store{funcs: map[string]func() int64{}} }

// Counter is the counter name, made at zero the first time.
func (s *Store) Counter(name string) *Counter {
	if s == nil {
		return nil
	}
	c, ok := s.counters.Load(name)
	if !ok {
		c, _ = s.counters.LoadOrStore(name, new(Counter))
	}
	return c.(*Counter)
}

// Gauge is the gauge name, made at zero the first time.
func (s *Store) Gauge(name string) *Gauge {
	if s == nil {
		return nil
	}
	g, ok := s.gauges.Load(name)
	if !ok {
		g, _ = s.gauges.LoadOrStore(name, new(Gauge))
	}
	return g.(*Gauge)
}

// GaugeFunc makes name a gauge whose value f computes when the store is
// read (server.uptime).
func (s *Store) GaugeFunc(name string, f func() int64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.funcs[name] = f
	s.mu.Unlock()
}

// Add adds n to the counter name: for stats whose names depend on the
// request (grpc_stats' per-method counters), where no object can be
// resolved beforehand.
func (s *Store) Add(name string, n uint64) { s.Counter(name).Add(n) }

// Inc adds one to the counter name.
func (s *Store) Inc(name string) { s.Add(name, 1) }

// Kind tells counters from gauges (Prometheus' TYPE).
type Kind int

// The kinds of stat.
const (
	KindCounter Kind = iota
	KindGauge
)

// Sample is one stat's value at the time of a Snapshot.
type Sample struct {
	Name  string
	Kind  Kind
	Value int64
}

// Snapshot returns every stat, sorted by name.
func (s *Store) Snapshot() []Sample {
	if s == nil {
		return nil
	}
	var out []Sample
	s.counters.Range(func(k, v any) bool {
		out = append(out, Sample{Name: k.(string), Kind: KindCounter, Value: int64(v.(*Counter).Value())})
		return true
	})
	s.gauges.Range(func(k, v any) bool {
		out = append(out, Sample{Name: k.(string), Kind: KindGauge, Value: v.(*Gauge).Value()})
		return true
	})
	s.mu.Lock()
	for name, f := range s.funcs {
		out = append(out, Sample{Name: name, Kind: KindGauge, Value: f()})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get is the value of one counter (0 when it does not exist).
func (s *Store) Get(name string) uint64 {
	if s == nil {
		return 0
	}
	if c, ok := s.counters.Load(name); ok {
		return c.(*Counter).Value()
	}
	return 0
}
