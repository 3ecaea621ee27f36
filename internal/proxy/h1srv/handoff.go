package h1srv

import (
	"net"
	"sync"
)

// Handoff is a net.Listener fed by hand: Server.Other can Deliver the
// connections it does not serve to an http.Server serving the Handoff.
type Handoff struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

// NewHandoff returns a Handoff whose Addr is addr (the real listener's).
func NewHandoff(addr net.Addr) *Handoff {
	return &Handoff{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// Deliver passes c to the Accept loop, or closes it once the Handoff is
// closed.
func (h *Handoff) Deliver(c net.Conn) {
	select {
	case h.ch <- c:
	case <-h.done:
		c.Close()
	}
}

func (h *Handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *Handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *Handoff) Addr() net.Addr { return h.addr }

// prefacedConn replays the bytes read while looking for the HTTP/2
// preface before reading the connection itself.
type prefacedConn struct {
	net.Conn
	pre []byte
}

func (c *prefacedConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps net/http's half-close (used before it closes a
// connection it answered with an error) working through the wrapper.
func (c *prefacedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
