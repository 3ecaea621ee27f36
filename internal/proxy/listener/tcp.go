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

// chainKinds says whether every chain is a tcp_proxy (tcp), or some are
// and the others HTTP connection managers (mixed: TLS passthrough beside
// HTTPS). A mixed listener must read the SNI and terminate TLS on every
// HTTP chain: the SNI is what tells the kinds apart.
func chainKinds(chains []*chain, inspector bool) (tcp, mixed bool, err error) {
	n := 0
	for _, c := range chains {
		if c.tcp != nil {
			n++
		}
	}
	switch n {
	case 0:
		return false, false, nil
	case len(chains):
		return true, false, nil
	}
	if !inspector {
		return false, false, fmt.Errorf("mixing tcp_proxy and http_connection_manager filter chains needs the tls_inspector")
	}
	for _, c := range chains {
		if c.hcm != nil && c.tls == nil {
			return false, false, fmt.Errorf("mixing tcp_proxy and plaintext http_connection_manager filter chains on one listener is not supported")
		}
	}
	return false, true, nil
}

// serveTCP runs one connection of a tcp_proxy listener.
func (b *boundListener) serveTCP(c *trackedConn, s *Runtime) {
	defer b.tcpDone(c)
	info := &streaminfo.StreamInfo{Start: time.Now(), Connection: &streaminfo.Connection{
		RemoteAddr: c.RemoteAddr().String(), LocalAddr: localAddrString(c.LocalAddr())}}
	var conn net.Conn = c
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
	if ch.hcm != nil {
		// An HTTPS chain of a mixed listener: net/http serves it, with
		// the chain's certificate; the HTTP servers own the connection now.
		b.conns.handed(c)
		lr, _ := s.chain(i)
		c.servedBy(lr)
		b.fwd.Deliver(tls.Server(conn, tc))
		return
	}
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
	b.conns.mu.Lock()
	_, mine := b.conns.m[c]
	delete(b.conns.m, c)
	b.conns.mu.Unlock()
	if mine {
		c.Close()
		b.conns.wg.Done()
	}
}

// handed forgets c without closing it: it went to the HTTP servers.
func (t *tcpConns) handed(c net.Conn) {
	t.mu.Lock()
	if _, ok := t.m[c]; ok {
		delete(t.m, c)
		t.wg.Done()
	}
	t.mu.Unlock()
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
