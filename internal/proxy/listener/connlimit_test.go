package listener

import (
	"net"
	"testing"
)

// The default limit leaves descriptors for everything but the
// listeners: 512, then half of the rest for upstream connections.
func TestDefaultMaxConnections(t *testing.T) {
	for fds, want := range map[uint64]int{
		256: 64, 1024: 256, 20000: 9744, 1 << 20: 50000,
	} {
		if got := defaultMaxConnections(fds); got != want {
			t.Errorf("%d descriptors: %d connections, want %d", fds, got, want)
		}
	}
	if l := ProcessConnLimit(); l != ProcessConnLimit() || l.max != int64(defaultMaxConnections(fdLimit())) {
		t.Error("proxies without their own limit must share the process's")
	}
}

// admit closes idle connections for room, and refuses when none is idle.
func TestConnLimitAdmit(t *testing.T) {
	l := NewConnLimit(2)
	if !l.admit() || !l.admit() {
		t.Fatal("under the limit")
	}
	if l.admit() {
		t.Fatal("over the limit with no server to take idle connections from")
	}
	c := &trackedConn{Conn: nopConn{}, l: l}
	c.Close()
	c.Close() // a second close gives nothing back twice
	if l.n.Load() != 1 || !l.admit() || l.admit() {
		t.Errorf("after one close: %d in use", l.n.Load())
	}
}

// nopConn is a net.Conn that does nothing.
type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }
