package budget

// selfSampleEvery is how many steps pass between a meter's own reads of the
// clock and the allocation count, for when the sampler goroutine is slow to
// be scheduled (every core busy running scripts). At about 2 µs a read,
// this costs well under a nanosecond per instruction.
const selfSampleEvery = 4096

// clockEvery is how many steps pass between a meter's reads of the clock
// (about 20 ns, so about 5 ns a step). One step can take long and allocate
// much: a concatenation copies what the script holds, and a doubling loop
// (four steps a round) goes from megabytes to gigabytes in a few dozen
// steps. When the sampler goroutine is not scheduled (every core busy
// copying for scripts, as under a load of 5), its values stay stale; the
// meter then samples itself once a sample period has passed, so a call
// overshoots its memory limit by one or two doublings at most. Without
// this, four doubling scripts under load took the heap to 2.6 GiB against
// a 32 MiB limit each (TestAttacksLeaveOtherStreamsAndMemoryAlone).
// The first clockAfter steps of a call read no clock: most calls end
// sooner, and in that many steps a doubling loop reaches 64 KiB.
const (
	clockEvery = 4
	clockAfter = 64
)

// RawFactor bounds a call's raw allocation count (everything the process
// allocated while it ran), shared among the calls running at once, at this
// many times its memory limit, whatever Measure says: the part of a
// script's memory that Measure cannot see is bounded too.
const RawFactor = 8

// ProcessFactor bounds what the calls running at once hold in all, as
// last measured, at this many times the memory limit.
const ProcessFactor = 8

// Meter measures one call at a time; it is not safe for concurrent use.
// Start, Step, Charge, Pause and Resume run on the call's goroutine.
type Meter struct {
	// Measure, when set, estimates what the interpreter state holds. The
	// allocation count is shared by the whole process: when it says the
	// call is over its memory limit, Measure tells a script that holds
	// that much (stopped) from one that ran while other goroutines
	// allocated (its count restarts from what it holds).
	Measure func() int64

	limits Limits
	err    *Exceeded

	steps     int64
	nextSelf  int64
	sampledAt int64 // sampler time of the values the last check used
	seenTick  uint64
	allocBase uint64 // process allocation count when the interval began
	nanosBase int64  // sampler time when the interval began
	allocated int64  // bytes charged for finished intervals and by Charge
	raw       int64  // the same, never lowered by Measure
	charged   int64  // bytes Charge counted: host-side, where Measure cannot see them
	ran       int64  // nanoseconds run in finished intervals
	reported  int64  // what this call adds to the process's held total
	paused    bool
	entered   bool
}

// Start begins a call under limits (zero fields: Default).
func (m *Meter) Start(limits Limits) {
	*m = Meter{Measure: m.Measure, limits: limits.WithDefaults(), nextSelf: selfSampleEvery}
	m.allocBase, m.nanosBase = global.enter()
	m.seenTick, m.sampledAt = global.tick.Load(), m.nanosBase
	m.entered = true
}

// Stop ends the call and returns the bytes it was charged.
func (m *Meter) Stop() int64 {
	if !m.entered {
		return m.allocated
	}
	if !m.paused {
		m.closeInterval(global.alloc.Load(), global.nanos.Load())
	}
	m.entered = false
	m.report(0)
	global.leave()
	if m.err != nil && m.err.Limit == "memory" {
		global.collect()
	}
	return m.allocated
}

// Err is the limit the call went over (nil while within budget).
func (m *Meter) Err() error {
	if m.err == nil {
		return nil
	}
	return m.err
}

// Step counts one instruction and checks the budget when the sampler has
// published since the last check. It returns non-nil once over budget.
func (m *Meter) Step() error {
	if m.err != nil {
		return m.err
	}
	m.steps++
	if lim := m.limits.Instructions; lim > 0 && m.steps > lim {
		m.err = exceeded("instructions", m.limits)
		return m.err
	}
	switch {
	case m.steps >= m.nextSelf:
		m.selfSample(max(global.now(), 1))
	case m.steps >= clockAfter && m.steps%clockEvery == 0 && global.tick.Load() == m.seenTick:
		if now := max(global.now(), 1); now-m.sampledAt >= int64(samplePeriod) {
			m.selfSample(now)
		}
	default:
		if t := global.tick.Load(); t != m.seenTick {
			m.seenTick = t
			m.sampledAt = global.nanos.Load()
			m.check(global.alloc.Load(), m.sampledAt)
		}
	}
	if m.err != nil {
		return m.err
	}
	return nil
}

// selfSample checks the budget against the allocation count read now.
func (m *Meter) selfSample(now int64) {
	m.nextSelf = m.steps + selfSampleEvery
	m.sampledAt = now
	m.check(allocatedBytes(), now)
}

// Charge counts n bytes a host function is about to allocate for the
// script, and refuses them (without charging) when they would take the
// call over its memory budget.
func (m *Meter) Charge(n int64) error {
	if m.err != nil {
		return m.err
	}
	if lim := m.limits.Memory; lim > 0 && m.used(global.alloc.Load())+n > lim {
		if !m.confirmed(global.alloc.Load(), n) {
			m.err = exceeded("memory", m.limits)
			return m.err
		}
	}
	m.allocated += n
	m.raw += n
	m.charged += n
	return nil
}

// Pause stops the clock and the allocation count while the call waits in
// a host function (the network, the client's body): that time and what
// the rest of the proxy allocates meanwhile are not the script's. Pause
// and Resume read the count afresh (microseconds, next to a network wait).
func (m *Meter) Pause() {
	if m.paused || !m.entered {
		return
	}
	m.closeInterval(allocatedBytes(), max(global.now(), 1))
	m.paused = true
}

// Resume restarts the clock and the allocation count after Pause.
func (m *Meter) Resume() {
	if !m.paused {
		return
	}
	m.paused = false
	m.allocBase, m.nanosBase = allocatedBytes(), max(global.now(), 1)
	m.seenTick, m.sampledAt = global.tick.Load(), m.nanosBase
}

func (m *Meter) closeInterval(alloc uint64, nanos int64) {
	if alloc > m.allocBase {
		m.allocated += int64(alloc - m.allocBase)
		m.raw += int64(alloc - m.allocBase)
	}
	if nanos > m.nanosBase && m.nanosBase != 0 {
		m.ran += nanos - m.nanosBase
	}
	m.allocBase, m.nanosBase = alloc, nanos
}

func (m *Meter) used(alloc uint64) int64 {
	if alloc > m.allocBase {
		return m.allocated + int64(alloc-m.allocBase)
	}
	return m.allocated
}

// check compares the current interval, measured up to (alloc, nanos),
// with the limits. Values older than the interval's start count as zero.
func (m *Meter) check(alloc uint64, nanos int64) {
	if m.paused {
		return
	}
	if lim := m.limits.Memory; lim > 0 && m.used(alloc) > lim && !m.confirmed(alloc, 0) {
		m.err = exceeded("memory", m.limits)
		return
	}
	ran := m.ran
	if nanos > m.nanosBase && m.nanosBase != 0 {
		ran += nanos - m.nanosBase
	}
	if lim := m.limits.Time; lim > 0 && ran > int64(lim) {
		m.err = exceeded("time", m.limits)
	}
}

// confirmed reports whether the call, which the process-wide count puts
// over its memory limit, is within it after all: what Measure says the
// state holds, plus what host functions were charged in this call (their
// buffers are not the state's yet), plus extra bytes about to be
// allocated, is within the limit, and the raw count is within RawFactor
// limits. The count then restarts from that.
func (m *Meter) confirmed(alloc uint64, extra int64) bool {
	lim := m.limits.Memory
	raw := m.raw
	if alloc > m.allocBase {
		raw += int64(alloc - m.allocBase)
	}
	// Calls running at once share the blame for the raw count: a call
	// that waited for a core while others allocated is not cut off for
	// it, and a script alone is held to RawFactor limits.
	if m.Measure == nil || raw+extra > RawFactor*lim*max(1, global.active.Load()) {
		return false
	}
	held := m.Measure() + m.charged
	if held+extra > lim {
		return false
	}
	// Many calls can each hold just under their limit at once: past
	// ProcessFactor limits in all, those holding more than their share go.
	m.report(held)
	total := global.held.Load()
	if total > ProcessFactor*lim && held >= total/max(1, global.active.Load()) {
		return false
	}
	m.raw = raw
	m.allocated, m.allocBase = held, alloc
	return true
}

// report makes held this call's part of the process's held total.
func (m *Meter) report(held int64) {
	global.held.Add(held - m.reported)
	m.reported = held
}
