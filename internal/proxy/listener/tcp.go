package listener

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// Listeners whose chains are tcp_proxy: a connection's chain is chosen by
// the SNI the tls_inspector peeks from the ClientHello (without consuming
// it), then the chain terminates TLS when it has a transport socket
// (TLSRoute Terminate) or passes the bytes through untouched (Passthrough,
// TCPRoute), and its tcp_proxy carries the connection to the cluster.

// defaultFiltersTimeout is Envoy's listener_filters_timeout default: a
// client that sends no ClientHello within it is disconnected.
const defaultFiltersTimeout = 15 * time.Second

// tcpOnly reports whether the chains are tcp_proxy chains. A listener
// mixing them with HTTP connection managers is refused: Portico serves a
// socket as one or the other.
func tcpOnly(chains []*chain) (bool, error) {
	n := 0
	for _, c := range chains {
		if c.tcp != nil {
			n++
		}
	}
	switch n {
	case 0:
		return false, nil
	case len(chains):
		return true, nil
	}
	return false, fmt.Errorf("mixing tcp_proxy and http_connection_manager filter chains on one listener is not supported")
}

// serveTCP runs one connection of a tcp_proxy listener.
func (b *boundListener) serveTCP(c net.Conn, s *Runtime) {
	defer b.tcpDone(c)
	info := &streaminfo.StreamInfo{Start: time.Now(), Connection: &streaminfo.Connection{
		RemoteAddr: c.RemoteAddr().String(), LocalAddr: localAddrString(c.LocalAddr())}}
	conn := c
	if s.cfg.inspector {
		var sni string
		var err error
		if sni, conn, err = peekServerName(c, s.cfg.filtersTimeout); err != nil && !s.cfg.continueOnTimeout {
			c.Close()
			return
		}
		info.Connection.ServerName = sni
	}
	i := s.pick(info.Connection.ServerName)
	if i == -2 {
		// Envoy closes a connection no filter chain matches and logs it
		// in the listener's access log, flag NR.
		c.Close()
		if len(s.cfg.listenerLogs) > 0 {
			info.ResponseFlags = "NR"
			s.log.Log(info, s.cfg.listenerLogs)
		}
		return
	}
	ch, tc := s.tcpChain(i)
	if tc != nil {
		tconn := tls.Server(conn, tc)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.filtersTimeout)
		err := tconn.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.Close()
			return
		}
		conn = tconn
	}
	ch.tcp.Serve(context.Background(), conn, s.clusters, s.log, info)
}

func localAddrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// errPeeked ends the handshake that read the ClientHello.
var errPeeked = errors.New("client hello read")

// peekServerName reads the ClientHello's SNI without consuming it: it runs
// Go's TLS server handshake on a connection that records what it reads and
// discards what it would write, stopping as soon as the ClientHello is
// parsed. The returned connection replays the recorded bytes first. A
// client that does not speak TLS gets "" (and its bytes back), as with
// Envoy's tls_inspector; one that says nothing within timeout is an error
// (the connection returned still replays what it sent).
func peekServerName(c net.Conn, timeout time.Duration) (string, net.Conn, error) {
	rec := &recordingConn{Conn: c}
	var sni string
	if timeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(timeout))
	}
	err := tls.Server(rec, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni = h.ServerName
		return nil, errPeeked
	}}).Handshake()
	_ = c.SetReadDeadline(time.Time{})
	replay := &prefixConn{Conn: c, prefix: bytes.NewReader(rec.buf.Bytes())}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || rec.buf.Len() == 0 {
		return "", replay, fmt.Errorf("no ClientHello within the listener filters timeout: %v", err)
	}
	return sni, replay, nil
}

// recordingConn keeps what is read and writes nothing (the aborted
// handshake's alert must not reach the client).
type recordingConn struct {
	net.Conn
	buf bytes.Buffer
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

func (r *recordingConn) Write(p []byte) (int, error) { return len(p), nil }

// prefixConn reads prefix before the connection's own bytes.
type prefixConn struct {
	net.Conn
	prefix *bytes.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.prefix.Len() > 0 {
		return p.prefix.Read(b)
	}
	return p.Conn.Read(b)
}

// CloseWrite half-closes the underlying connection.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

var _ io.Reader = (*prefixConn)(nil)

// tcpConns are a listener's proxied connections, which drain closes once
// its timeout passes (HTTP connections are net/http's and h1srv's).
type tcpConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
	wg sync.WaitGroup
}

func (t *tcpConns) add(c net.Conn) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[net.Conn]struct{}{}
	}
	t.m[c] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
}

func (b *boundListener) tcpDone(c net.Conn) {
	c.Close()
	b.conns.mu.Lock()
	delete(b.conns.m, c)
	b.conns.mu.Unlock()
	b.conns.wg.Done()
}

// drain waits for the connections to finish, up to ctx, then closes the
// rest.
func (t *tcpConns) drain(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t.mu.Lock()
	for c := range t.m {
		c.Close()
	}
	t.mu.Unlock()
	<-done
}
