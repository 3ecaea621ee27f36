package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/h1srv"
	"github.com/portico-gw/portico/internal/proxy/hcm"
)

// Runtime is what a bound socket serves: its filter chains' runtimes and,
// for TLS listeners, each chain's server tls.Config.
type Runtime struct {
	cfg    *Config
	chains []*hcm.Runtime // parallel to cfg.chains (nil for tcp_proxy chains)
	tls    []*tls.Config
	def    *hcm.Runtime
	defTLS *tls.Config
	// clusters and log serve tcp_proxy chains.
	clusters cluster.Set
	log      *accesslog.Logger
}

// pick selects the filter chain for an SNI as Envoy does: exact server
// name, then the longest wildcard, then chains without server_names, then
// the default chain. -1 is the default chain, -2 no chain at all.
func (s *Runtime) pick(sni string) int {
	sni = strings.ToLower(sni)
	best, bestLen := -2, -1
	for i, c := range s.cfg.chains {
		if len(c.serverNames) == 0 {
			if bestLen < 0 {
				best, bestLen = i, 0
			}
			continue
		}
		for _, n := range c.serverNames {
			switch {
			case n == sni:
				return i
			case strings.HasPrefix(n, "*") && strings.HasSuffix(sni, n[1:]) && len(n) > bestLen:
				best, bestLen = i, len(n)
			}
		}
	}
	if best == -2 && s.def != nil {
		return -1
	}
	return best
}

// tcpChain is chain i's config and TLS (nil: passthrough).
func (s *Runtime) tcpChain(i int) (*chain, *tls.Config) {
	if i == -1 {
		return s.cfg.def, s.defTLS
	}
	return s.cfg.chains[i], s.tls[i]
}

func (s *Runtime) chain(i int) (*hcm.Runtime, *tls.Config) {
	switch i {
	case -2:
		return nil, nil
	case -1:
		return s.def, s.defTLS
	}
	return s.chains[i], s.tls[i]
}

// limits bound connections before a request is read: the HCM's of the
// chain a plaintext connection (no server name) gets, else the first's.
// A tcp_proxy listener has none.
func (s *Runtime) limits() h1srv.Limits {
	if lr, _ := s.chain(s.pick("")); lr != nil {
		return lr.Config().Limits()
	}
	if h := s.cfg.allChains()[0].hcm; h != nil {
		return h.Limits()
	}
	return h1srv.Limits{}
}

// boundListener is one listening socket. Its config is swapped atomically;
// requests in flight keep the hcm.Runtime they started with.
//
// Plaintext HTTP/1 connections are served by h1srv; TLS and HTTP/2 prior
// knowledge ones are handed to net/http through fwd.
type boundListener struct {
	net.Listener
	addr  string
	h1    *h1srv.Server
	srv   *http.Server
	fwd   *h1srv.Handoff
	cur   atomic.Pointer[Runtime]
	on    bool       // Serve started
	limit *ConnLimit // nil: unlimited
	conns tcpConns   // tcp_proxy connections being served
}

// Accept wraps connections in TLS when the current config terminates TLS,
// choosing the chain's certificate from the SNI during the handshake. The
// connections of a tcp_proxy listener are served here, on their own
// goroutine, and never reach the HTTP servers.
func (b *boundListener) Accept() (net.Conn, error) {
	for {
		c, err := b.accept()
		if err != nil {
			return nil, err
		}
		s := b.cur.Load()
		c.opened(s)
		if s != nil && (s.cfg.tcp || s.cfg.mixed) {
			b.conns.add(c)
			go b.serveTCP(c, s)
			continue
		}
		return b.wrapTLS(c), nil
	}
}

// accept takes the next connection the downstream connection limit admits.
func (b *boundListener) accept() (*trackedConn, error) {
	for {
		c, err := b.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := b.cur.Load()
		if b.limit == nil || s != nil && s.cfg.ignoreConnLimit {
			return &trackedConn{Conn: c}, nil
		}
		if b.limit.admit() {
			return &trackedConn{Conn: c, l: b.limit}, nil
		}
		// Over the limit with nothing idle to close: Envoy closes the
		// new connection.
		c.Close()
	}
}

func (b *boundListener) wrapTLS(c *trackedConn) net.Conn {
	if s := b.cur.Load(); s != nil && s.cfg.tls {
		return tls.Server(c, &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cur := b.cur.Load()
			lr, tlsc := cur.chain(cur.pick(hello.ServerName))
			if tlsc == nil {
				return nil, fmt.Errorf("no filter chain for server name %q", hello.ServerName)
			}
			c.servedBy(lr)
			return tlsc, nil
		}})
	}
	return c
}

func (b *boundListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := b.cur.Load()
	sni := ""
	if r.TLS != nil {
		sni = r.TLS.ServerName
	}
	var lr *hcm.Runtime
	if s != nil {
		lr, _ = s.chain(s.pick(sni))
	}
	if lr == nil {
		// Envoy closes a connection no filter chain matches.
		panic(http.ErrAbortHandler)
	}
	lr.ServeHTTP(w, r)
}

// Sockets binds, serves and drains listeners, keyed by bind address so a
// renamed listener keeps its socket.
type Sockets struct {
	mu    sync.Mutex
	m     map[string]*boundListener
	udp   map[string]*boundPacket // udp://host:port
	drain time.Duration
	log   *slog.Logger
	wg    sync.WaitGroup
	limit *ConnLimit // the downstream connection limit, nil: none
}

// NewSockets makes the listeners' socket set. In-flight requests of a
// listener that goes get drain to finish. maxConns is the downstream
// connection limit: 0 the process's (derived from the descriptor limit,
// shared by the proxies of the process), negative none.
func NewSockets(drain time.Duration, log *slog.Logger, maxConns int) *Sockets {
	s := &Sockets{drain: drain, log: log}
	switch {
	case maxConns > 0:
		s.limit = NewConnLimit(maxConns)
	case maxConns == 0:
		s.limit = ProcessConnLimit()
	}
	return s
}

// Prepare binds every address not yet bound. It runs before an LDS update
// is ACKed, so a port that cannot be bound NACKs the update.
func (s *Sockets) Prepare(addrs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*boundListener{}
	}
	var fresh []*boundListener
	var freshUDP []string
	undo := func() {
		for _, b := range fresh {
			b.Listener.Close()
			delete(s.m, b.addr)
		}
		for _, a := range freshUDP {
			s.udp[a].pc.Close()
			delete(s.udp, a)
		}
	}
	for _, a := range addrs {
		if strings.HasPrefix(a, udpScheme) {
			if err := s.prepareUDP(a); err != nil {
				undo()
				return err
			} else if s.udp[a].srv == nil {
				freshUDP = append(freshUDP, a)
			}
			continue
		}
		if _, ok := s.m[a]; ok {
			continue
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			undo()
			return fmt.Errorf("cannot bind listener address %s: %v", a, err)
		}
		b := &boundListener{addr: a, Listener: ln, limit: s.limit}
		fresh = append(fresh, b)
		s.m[a] = b
	}
	return nil
}

// Commit installs the new per-address configs, starts serving new Sockets
// and drains the ones no listener uses any more.
func (s *Sockets) Commit(rts map[string]*Runtime) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitUDP(rts)
	for a, b := range s.m {
		lr, ok := rts[a]
		if !ok {
			delete(s.m, a)
			s.drainOne(b)
			continue
		}
		b.cur.Store(lr)
		lim := lr.limits()
		if b.on {
			b.h1.SetLimits(lim)
		} else {
			b.on = true
			p := new(http.Protocols)
			p.SetHTTP1(true)
			p.SetHTTP2(true)
			p.SetUnencryptedHTTP2(true)
			errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
			b.fwd = h1srv.NewHandoff(b.Addr())
			// net/http serves TLS and HTTP/2 with the first config's
			// timeouts and head bound; h1srv follows every update.
			b.srv = &http.Server{Handler: b, Protocols: p, IdleTimeout: lim.IdleTimeout, ReadHeaderTimeout: lim.HeaderTimeout,
				MaxHeaderBytes: lim.MaxHeaderBytes, ErrorLog: errLog,
				// HTTP/2 connections whose streams are mostly reset
				// prematurely are closed, as Envoy does (rapid reset).
				ConnContext: hcm.WithConnStreams}
			b.h1 = &h1srv.Server{Handler: b, Strict: true, ErrorLog: errLog, Other: b.fwd.Deliver}
			b.h1.SetLimits(lim)
			if b.limit != nil {
				b.limit.register(b.h1)
			}
			s.wg.Add(2)
			go func() {
				defer s.wg.Done()
				_ = b.srv.Serve(b.fwd)
			}()
			go func() {
				defer s.wg.Done()
				_ = b.h1.Serve(b)
			}()
		}
	}
}

// drainOne stops accepting, lets in-flight requests finish (up to the drain
// timeout), then closes what is left.
func (s *Sockets) drainOne(b *boundListener) {
	if !b.on {
		b.Listener.Close()
		return
	}
	if b.limit != nil {
		b.limit.unregister(b.h1)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.drain)
		defer cancel()
		// net/http closes fwd only if its Serve started; a connection
		// still being handed over must not wait for it.
		defer b.fwd.Close()
		// All at once: net/http's idle connections close as soon as
		// h1srv's do; tcp_proxy connections get the drain time too.
		h1done := make(chan error, 1)
		go func() { h1done <- b.h1.Shutdown(ctx) }()
		tcpDone := make(chan struct{})
		go func() { b.conns.drain(ctx); close(tcpDone) }()
		defer func() { <-tcpDone }()
		err := b.srv.Shutdown(ctx)
		if err2 := <-h1done; err != nil || err2 != nil {
			b.h1.Close()
			b.srv.Close()
		}
	}()
}

// Addrs are the addresses being served.
func (s *Sockets) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for a, b := range s.m {
		if b.on {
			out = append(out, a)
		}
	}
	for a, b := range s.udp {
		if b.srv != nil {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// CloseAll drains every listener and waits.
func (s *Sockets) CloseAll() {
	s.mu.Lock()
	for a, b := range s.m {
		delete(s.m, a)
		s.drainOne(b)
	}
	for a, b := range s.udp {
		delete(s.udp, a)
		b.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
