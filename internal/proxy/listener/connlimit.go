package listener

import (
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/portico-gw/portico/internal/proxy/h1srv"
)

// ConnLimit bounds the downstream connections of every listener that
// shares it, as Envoy's overload manager resource monitor
// global_downstream_max_connections does (Envoy Gateway sets 50000). At
// the limit, the connections waiting longest for a request are closed to
// make room (a flood of idle connections cannot lock clients out); when
// none is idle, the new connection is closed at once. A listener with
// ignore_global_conn_limit is not counted, as in Envoy.
//
// The point is also to keep file descriptors for what must keep working
// when the listeners are flooded: the admin and health endpoints, xDS,
// and the upstream connections the admitted requests need. The default
// is therefore derived from the process's descriptor limit (see
// defaultMaxConnections) and shared by every proxy in the process, as
// they share that limit.
type ConnLimit struct {
	max int64
	n   atomic.Int64

	mu      sync.Mutex
	servers map[*h1srv.Server]struct{} // whose idle connections can be closed
}

func NewConnLimit(max int) *ConnLimit {
	return &ConnLimit{max: int64(max), servers: map[*h1srv.Server]struct{}{}}
}

var (
	sharedLimitOnce sync.Once
	sharedLimit     *ConnLimit
)

// ProcessConnLimit is the limit proxies without their own share.
func ProcessConnLimit() *ConnLimit {
	sharedLimitOnce.Do(func() { sharedLimit = NewConnLimit(defaultMaxConnections(fdLimit())) })
	return sharedLimit
}

// defaultMaxConnections leaves, of the process's descriptor limit, 512 for
// everything else and half of the rest for upstream connections (one per
// admitted request at most, with keep-alive), capped at Envoy Gateway's
// 50000.
func defaultMaxConnections(fds uint64) int {
	const reserve, floor, ceiling = 512, 64, 50000
	if fds <= reserve+2*floor {
		return floor
	}
	return int(min((fds-reserve)/2, ceiling))
}

func fdLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 1024
	}
	return l.Cur
}

// evictBatch is how many idle connections one full admission closes: a
// few at a time, so that a flood of new connections does not sort the
// idle ones for each of them.
func (l *ConnLimit) evictBatch() int { return int(max(l.max/64, 1)) }

// admit takes a slot for a new connection, closing idle connections to
// make room if need be. false: the connection must be refused.
func (l *ConnLimit) admit() bool {
	for range 2 {
		if l.n.Add(1) <= l.max {
			return true
		}
		l.n.Add(-1)
		if l.evictIdle(l.evictBatch()) == 0 {
			return false
		}
	}
	return false
}

func (l *ConnLimit) evictIdle(n int) int {
	l.mu.Lock()
	servers := make([]*h1srv.Server, 0, len(l.servers))
	for s := range l.servers {
		servers = append(servers, s)
	}
	l.mu.Unlock()
	closed := 0
	for _, s := range servers {
		closed += s.CloseIdle(n - closed)
	}
	return closed
}

func (l *ConnLimit) register(s *h1srv.Server) {
	l.mu.Lock()
	l.servers[s] = struct{}{}
	l.mu.Unlock()
}

func (l *ConnLimit) unregister(s *h1srv.Server) {
	l.mu.Lock()
	delete(l.servers, s)
	l.mu.Unlock()
}
