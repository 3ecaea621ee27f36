// Package budget bounds what one call into an untrusted script (a Lua
// entry point, later a Wasm callback) may cost the proxy: instructions,
// running time and memory allocated. An interpreter calls Meter.Step
// before every instruction; a call over its budget gets an *Exceeded error
// and its stream a 500, and the interpreter state is thrown away.
//
// Go has no per-goroutine allocation counter, so memory is measured from
// the process's: a sampler reads the runtime's cumulative allocation count
// every millisecond while calls run, and a call is charged everything the
// process allocated during its running intervals. That is an upper bound
// of the call's own allocation (other goroutines can only make a limit
// stricter, never looser); with calls that take microseconds and a budget
// of megabytes, an honest call is never near it. Host functions that
// allocate in one step what a script asks for (table.concat, string.rep,
// a response body) charge the exact size before allocating, so a single
// call cannot jump past the budget between samples. The granularity left
// is the sampling period: between two samples a script can allocate what
// memory bandwidth allows in a millisecond, plus the one instruction that
// was running (a concatenation at most doubles what the script holds).
package budget

import (
	"fmt"
	"time"
)

// Limits bound one call. Zero fields take Default's value; a negative
// field turns that limit off.
type Limits struct {
	// Instructions is the number of interpreter instructions.
	Instructions int64
	// Time is the running time, not counting time blocked in host calls
	// that wait for the network (httpCall, reading a request body).
	Time time.Duration
	// Memory is the number of bytes allocated.
	Memory int64
}

// Default limits. A real gateway script runs a few thousand instructions
// in microseconds and allocates kilobytes; these are orders of magnitude
// above that. The instruction limit stops a runaway loop in about half a
// second (gopher-lua runs some 20-30 million simple instructions a second
// here); the time limit is a backstop for loops whose few instructions
// each call something slow (string functions on large strings), and is
// generous because it is wall time: under a CPU-starved machine an honest
// call waits for a core (half a second was seen on a 2-core machine with
// four scripts attacking at once).
var Default = Limits{Instructions: 10_000_000, Time: 2 * time.Second, Memory: 64 << 20}

// WithDefaults fills zero fields from Default.
func (l Limits) WithDefaults() Limits {
	if l.Instructions == 0 {
		l.Instructions = Default.Instructions
	}
	if l.Time == 0 {
		l.Time = Default.Time
	}
	if l.Memory == 0 {
		l.Memory = Default.Memory
	}
	return l
}

// String is the limits as the flags of `portico proxy` spell them.
func (l Limits) String() string {
	return fmt.Sprintf("instructions=%d time=%v memory=%d", l.Instructions, l.Time, l.Memory)
}

// Prefix starts every Exceeded message; the Lua sandbox's own limit
// errors use it too, so logs and the validator recognize both.
const Prefix = "resource limit: "

// Exceeded is the error of a call over one of its limits.
type Exceeded struct {
	// Limit is "instructions", "time" or "memory".
	Limit string
	// Max is the limit's value, as configured.
	Max string
}

func (e *Exceeded) Error() string {
	switch e.Limit {
	case "instructions":
		return Prefix + "the script ran more than " + e.Max + " instructions"
	case "time":
		return Prefix + "the script ran longer than " + e.Max
	}
	return Prefix + "the script used more than " + e.Max + " of memory"
}

func exceeded(limit string, l Limits) *Exceeded {
	switch limit {
	case "instructions":
		return &Exceeded{Limit: limit, Max: fmt.Sprint(l.Instructions)}
	case "time":
		return &Exceeded{Limit: limit, Max: l.Time.String()}
	}
	return &Exceeded{Limit: limit, Max: bytesString(l.Memory)}
}

func bytesString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
