package budget

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var sink [][]byte

func steps(m *Meter, n int) error {
	for i := 0; i < n; i++ {
		if err := m.Step(); err != nil {
			return err
		}
	}
	return nil
}

func limitOf(err error) string {
	var e *Exceeded
	if errors.As(err, &e) {
		return e.Limit
	}
	return ""
}

func TestInstructionLimit(t *testing.T) {
	var m Meter
	m.Start(Limits{Instructions: 100, Time: -1, Memory: -1})
	defer m.Stop()
	if err := steps(&m, 100); err != nil {
		t.Fatalf("100 steps under a limit of 100: %v", err)
	}
	err := m.Step()
	if limitOf(err) != "instructions" || !strings.Contains(err.Error(), "more than 100 instructions") {
		t.Fatalf("step 101: %v", err)
	}
	if m.Step() == nil || m.Err() == nil {
		t.Fatal("the meter forgot it was over budget")
	}
}

// The meter reads the allocation count itself every selfSampleEvery
// steps, so detection does not depend on the sampler being scheduled.
func TestMemoryLimitFromAllocation(t *testing.T) {
	var m Meter
	m.Start(Limits{Instructions: -1, Time: -1, Memory: 1 << 20})
	defer m.Stop()
	sink = append(sink, make([]byte, 8<<20))
	defer func() { sink = nil }()
	if err := steps(&m, selfSampleEvery); limitOf(err) != "memory" {
		t.Fatalf("after allocating 8 MiB under a 1 MiB limit: %v", err)
	}
}

// A step that allocates much and takes long (a concatenation doubling
// what a script holds) is caught within a few steps even when the sampler
// goroutine publishes nothing (every core busy): the meter reads the
// clock, and samples itself once a sample period has passed.
func TestMemoryLimitWithTheSamplerStarved(t *testing.T) {
	saved := global
	defer func() { global = saved }()
	// A sampler that published once and whose goroutine never runs.
	global = &sampler{epoch: time.Now(), running: true}
	global.publish()
	var m Meter
	m.Start(Limits{Instructions: -1, Time: -1, Memory: 8 << 20})
	defer m.Stop()
	defer func() { sink = nil }()
	// The doubling loop: four steps a round, the third one concatenating
	// (a copy of what the script holds, at about 4 GB/s).
	held := 1
	for m.Err() == nil && held <= 8*(8<<20) {
		for step := 0; step < 4; step++ {
			if step == 2 {
				sink = append(sink, make([]byte, held))
				time.Sleep(time.Duration(held/4) * time.Nanosecond)
				held *= 2
			}
			if err := m.Step(); err != nil {
				if limitOf(err) != "memory" {
					t.Fatalf("%v", err)
				}
				break
			}
		}
	}
	if m.Err() == nil || held > 8*(8<<20) {
		t.Fatalf("held %d MiB under an 8 MiB limit before the meter stopped it (err %v)", held>>20, m.Err())
	}
	t.Logf("stopped at %d MiB held", held>>20)
}

// Measure clears a call the process-wide count wrongly blames, up to the
// raw bound.
func TestMeasureClearsOthersAllocation(t *testing.T) {
	var m Meter
	m.Measure = func() int64 { return 1024 }
	global.publish() // a fresh base: the sampler's may predate the last test's allocations
	m.Start(Limits{Instructions: -1, Time: -1, Memory: 1 << 20})
	defer func() { sink = nil }()
	sink = append(sink, make([]byte, 4<<20)) // "another goroutine's"
	if err := steps(&m, selfSampleEvery); err != nil {
		t.Fatalf("a state holding 1 KiB was stopped: %v", err)
	}
	sink = append(sink, make([]byte, RawFactor<<20))
	if err := steps(&m, selfSampleEvery); limitOf(err) != "memory" {
		t.Fatalf("past the raw bound: %v", err)
	}
	m.Stop()
}

func TestChargeRefusesBeforeAllocating(t *testing.T) {
	var m Meter
	m.Start(Limits{Memory: 1 << 20})
	if err := m.Charge(512 << 10); err != nil {
		t.Fatal(err)
	}
	if err := m.Charge(1 << 20); limitOf(err) != "memory" {
		t.Fatalf("charging past the limit: %v", err)
	}
	if got := m.Stop(); got < 512<<10 {
		t.Fatalf("Stop = %d, want at least the 512 KiB charged", got)
	}
}

func TestTimeLimitExcludesPauses(t *testing.T) {
	var m Meter
	m.Start(Limits{Instructions: -1, Time: 200 * time.Millisecond, Memory: -1})
	m.Pause()
	time.Sleep(300 * time.Millisecond) // a network wait
	m.Resume()
	if err := steps(&m, selfSampleEvery); err != nil {
		t.Fatalf("a paused wait counted against the time limit: %v", err)
	}
	m.Stop()

	m.Start(Limits{Instructions: -1, Time: time.Millisecond, Memory: -1})
	defer m.Stop()
	for m.Step() == nil {
	}
	if limitOf(m.Err()) != "time" || !strings.Contains(m.Err().Error(), "longer than 1ms") {
		t.Fatalf("a loop under a 1ms limit: %v", m.Err())
	}
}

func TestDefaults(t *testing.T) {
	l := Limits{Time: -1}.WithDefaults()
	if l.Instructions != Default.Instructions || l.Memory != Default.Memory || l.Time != -1 {
		t.Fatalf("WithDefaults = %+v", l)
	}
}

// Step is the per-instruction cost every script pays.
func BenchmarkStep(b *testing.B) {
	var m Meter
	m.Start(Limits{Instructions: -1, Time: -1, Memory: -1})
	defer m.Stop()
	for i := 0; i < b.N; i++ {
		_ = m.Step()
	}
}
