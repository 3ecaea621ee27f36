package budget

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// samplePeriod is how often the sampler publishes the process's
// allocation count and the time while calls run. Reading the count costs
// about 2 µs here, so this is about 0.2% of a core, paid only while some
// call is in flight.
const samplePeriod = time.Millisecond

// idleLinger is how long the sampler keeps running after the last call
// ended, so that a steady trickle of calls does not start a goroutine each.
const idleLinger = 100 * time.Millisecond

// sampler publishes, every samplePeriod while calls run, the process's
// cumulative allocated bytes and a monotonic time. Meters read the
// published values with atomic loads (nanoseconds) instead of reading
// them (microseconds) before every instruction.
type sampler struct {
	alloc   atomic.Uint64
	nanos   atomic.Int64 // 0 when stale (the sampler is not running)
	tick    atomic.Uint64
	active  atomic.Int64
	held    atomic.Int64 // what running calls hold, as last measured (Meter.report)
	lastGC  atomic.Int64 // sampler time of the last collect
	mu      sync.Mutex   // guards starting and stopping the goroutine
	running bool
	epoch   time.Time
}

var global = &sampler{epoch: time.Now()}

// allocatedBytes reads the runtime's cumulative heap allocation count.
func allocatedBytes() uint64 {
	s := [1]metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func (s *sampler) now() int64 { return int64(time.Since(s.epoch)) }

// enter registers a running call and returns fresh (alloc, nanos) values
// to start it from, starting the sampler when it is not running.
func (s *sampler) enter() (uint64, int64) {
	s.active.Add(1)
	if n := s.nanos.Load(); n != 0 {
		return s.alloc.Load(), n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		s.running = true
		s.publish()
		go s.run()
	}
	return s.alloc.Load(), s.nanos.Load()
}

func (s *sampler) leave() { s.active.Add(-1) }

func (s *sampler) publish() {
	s.alloc.Store(allocatedBytes())
	s.nanos.Store(max(s.now(), 1))
	s.tick.Add(1)
}

func (s *sampler) run() {
	t := time.NewTicker(samplePeriod)
	defer t.Stop()
	idleSince := time.Time{}
	for now := range t.C {
		s.publish()
		if s.active.Load() > 0 {
			idleSince = time.Time{}
			continue
		}
		if idleSince.IsZero() {
			idleSince = now
			continue
		}
		if now.Sub(idleSince) < idleLinger {
			continue
		}
		if s.stop() {
			return
		}
		idleSince = time.Time{}
	}
}

// stop marks the published values stale and reports whether the goroutine
// may end. A call that entered while it stopped read values that were
// still fresh and counts on ticks: it is seen here, and sampling goes on.
func (s *sampler) stop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active.Load() > 0 {
		return false
	}
	s.nanos.Store(0)
	if s.active.Load() > 0 {
		s.publish()
		return false
	}
	s.running = false
	return true
}

// collectEvery rate-limits collect.
const collectEvery = 100 * time.Millisecond

// collect starts a garbage collection, at most once per collectEvery, after
// a call was stopped for memory: what it allocated is garbage now, and the
// proxy's relaxed GOGC (gc.go) would otherwise let it sit at several times
// the live heap until the next cycle.
func (s *sampler) collect() {
	now, last := s.now(), s.lastGC.Load()
	if now-last < int64(collectEvery) || !s.lastGC.CompareAndSwap(last, now) {
		return
	}
	go runtime.GC()
}
