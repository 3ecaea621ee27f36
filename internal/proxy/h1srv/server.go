// Package h1srv is a plaintext HTTP/1.1 server for the proxy's downstream
// connections. It keeps net/http's observable behaviour for handlers (the
// same *http.Request, ResponseWriter semantics, Flusher, Hijacker, error
// answers) at a fraction of the cost: one goroutine per connection,
// buffers reused across requests, the request head parsed in place, the
// response head and a small body written with one system call, and no
// per-request background read unless a handler runs long.
//
// Deliberate differences from net/http: no Content-Type sniffing (a proxy
// passes responses through as they are); a connection that has not
// started a request counts as idle for Shutdown at once (net/http waits
// 5 s); a request whose first byte arrived before Shutdown is still
// answered (net/http drops it); the ResponseWriter's Header map is reused
// by the connection's next request, so it must not be touched after the
// handler returns (the ResponseWriter contract already says so). TLS and
// HTTP/2 connections are not served here: Server.Other gets them.
//
// A Strict server follows Envoy's HTTP/1 codec instead where net/http is
// lenient or does more than a proxy should (the proxy sets it; the
// differential test and fuzzer check both modes): see Server.Strict.
package h1srv

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x on plaintext connections.
type Server struct {
	Handler http.Handler
	// Strict makes the server behave as Envoy's HTTP/1 codec and
	// connection manager where they differ from net/http:
	//   - a request with both Content-Length and Transfer-Encoding, or an
	//     HTTP/1.0 request with Transfer-Encoding, is refused with 400
	//     (net/http lets chunked win, or ignores the header);
	//   - only HTTP/1.0 and HTTP/1.1 are served: other versions get 505
	//     (net/http serves any HTTP/1.x);
	//   - a head that times out once it has begun is answered 408, as
	//     Envoy's request_headers_timeout and stream_idle_timeout do
	//     (net/http closes without a word);
	//   - refusals carry Envoy's body, the status text, and close the
	//     connection;
	//   - a handler that returns before its request body was read to the
	//     end ends the connection after the response, and a read of that
	//     body blocked on the client is interrupted (net/http reads up to
	//     256 KiB more to keep the connection, and waits for it).
	Strict bool
	// ErrorLog receives panics and handler misuse; nil: the log package.
	ErrorLog *log.Logger
	// Other owns the connections this server does not speak: TLS ones
	// (*tls.Conn, passed on as accepted) and plaintext ones opening with
	// the HTTP/2 preface, which arrive wrapped so that the bytes already
	// read are read again. Nil closes them.
	Other func(net.Conn)

	limits atomic.Pointer[Limits]

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	drained   chan struct{} // closed when shutting down and no conn is left
	shutdown  atomic.Bool
}

// Limits bound what a client can make a connection hold before a handler
// runs. A connection reads them when it starts waiting for a request, so
// SetLimits applies to the requests that follow. Zero fields: no bound
// (MaxHeaderBytes: net/http's 1 MiB plus 4 KiB).
type Limits struct {
	// IdleTimeout bounds the wait for a request's first byte, from the
	// connection's accept on and between requests (Envoy's connection
	// idle_timeout: it runs whenever no request is in progress).
	IdleTimeout time.Duration
	// HeaderTimeout bounds a head from its first byte to its end (Envoy's
	// request_headers_timeout). StreamIdleTimeout bounds it too: Envoy's
	// stream, and its idle timer, exist from a request's first byte, and
	// the bytes of a head do not reset that timer.
	HeaderTimeout     time.Duration
	StreamIdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and header lines together, as
	// Envoy's max_request_headers_kb does (its parser counts the raw
	// bytes). MaxHeaders bounds the number of header lines (Envoy's
	// max_headers_count). More of either is answered 431. The head is
	// checked as it arrives, so a connection never holds more than the
	// bound of an incomplete head.
	MaxHeaderBytes int
	MaxHeaders     int
}

// SetLimits replaces the limits; connections read them before each
// request.
func (s *Server) SetLimits(l Limits) { s.limits.Store(&l) }

var noLimits Limits

func (s *Server) currentLimits() *Limits {
	if l := s.limits.Load(); l != nil {
		return l
	}
	return &noLimits
}

// Serve accepts connections on ln until it is closed. It returns
// http.ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: back off as net/http.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logf("http: Accept error: %v; retrying in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if _, ok := rwc.(*tls.Conn); ok {
			s.handOff(rwc)
			continue
		}
		c := newConn(s, rwc)
		if !s.track(c) {
			rwc.Close()
			c.release()
			continue
		}
		go c.serve()
	}
}

func (s *Server) handOff(c net.Conn) {
	if s.Other == nil {
		c.Close()
		return
	}
	s.Other(c)
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

// forget stops tracking a connection that closed, or that a handler
// hijacked or Other took.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.drained != nil && len(s.conns) == 0 {
		close(s.drained)
		s.drained = nil
	}
}

func (s *Server) shuttingDown() bool { return s.shutdown.Load() }

// Shutdown stops accepting, closes idle connections, and waits for the
// others to finish the response in progress (they close after it). When
// ctx ends first it returns ctx's error; Close then ends the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	var drained chan struct{}
	if len(s.conns) > 0 {
		drained = make(chan struct{})
		s.drained = drained
	}
	for c := range s.conns {
		// A connection waiting for a request closes now; one serving
		// a request sees the flag after its response.
		if c.state.CompareAndSwap(connIdle, connClosed) {
			c.rwc.Close()
		}
	}
	s.mu.Unlock()
	if drained == nil {
		return nil
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseIdle closes up to n of the connections waiting for a request
// (not yet sent its first byte, or kept alive between requests), those
// idle the longest first, and returns how many it closed. The proxy's
// connection limit uses it to make room under pressure, as Envoy's
// overload manager closes idle connections.
func (s *Server) CloseIdle(n int) int {
	if n <= 0 {
		return 0
	}
	s.mu.Lock()
	var idle []*conn
	for c := range s.conns {
		if c.state.Load() == connIdle {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(idle, func(a, b *conn) int { return cmp.Compare(a.idleSince.Load(), b.idleSince.Load()) })
	closed := 0
	for _, c := range idle {
		if closed == n {
			break
		}
		if c.state.CompareAndSwap(connIdle, connClosed) {
			c.rwc.Close()
			closed++
		}
	}
	return closed
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.state.Store(connClosed)
		c.rwc.Close()
	}
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}
