// Package freeport hands out loopback TCP ports for listeners that another
// component binds later: a proxy told its listener over xDS, a child process,
// an Envoy started with an admin port.
//
// The usual trick (listen on port 0, read the port, close) races: until the
// port is bound again, the kernel may hand the same number to any other bind
// to port 0 or to the local end of an outgoing connection, and under a
// parallel test run it did ("bind: address already in use" on a listener the
// proxy NACKed). Ports here come from below the kernel's ephemeral range, which
// the kernel never picks on its own, at random so that two processes picking
// at once rarely meet, and never twice from one process.
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the bottom of the range; below it sit the well-known ports and
// Portico's own defaults (18000 xDS, 18002 Wasm, 19000 admin, 19001 metrics).
const lowest = 20000

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Get returns a loopback TCP port that is free now and that neither the
// kernel nor this process will hand out again.
func Get() (int, error) {
	high := ephemeralLowOnce()
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		p := lowest + rand.IntN(high-lowest)
		if handed[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		handed[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no free port below the ephemeral range")
}

// ephemeralLowOnce reads the kernel's range once per process.
var ephemeralLowOnce = sync.OnceValue(ephemeralLow)

// ephemeralLow is the first port the kernel may choose for itself.
func ephemeralLow() int {
	const fallback = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return fallback
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= lowest+1000 {
		return fallback
	}
	return n
}
