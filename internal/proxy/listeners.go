package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// boundListener is one listening socket. Its config is swapped atomically;
// requests in flight keep the listenerRT they started with.
type boundListener struct {
	addr string
	ln   net.Listener
	srv  *http.Server
	cur  atomic.Pointer[listenerRT]
	on   bool // Serve started
}

func (b *boundListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lr := b.cur.Load()
	if lr == nil {
		http.Error(w, "listener is warming", http.StatusServiceUnavailable)
		return
	}
	lr.serve(w, r)
}

// sockets binds, serves and drains listeners, keyed by bind address so a
// renamed listener keeps its socket.
type sockets struct {
	mu    sync.Mutex
	m     map[string]*boundListener
	drain time.Duration
	log   *slog.Logger
	wg    sync.WaitGroup
}

// prepare binds every address not yet bound. It runs before an LDS update
// is ACKed, so a port that cannot be bound NACKs the update.
func (s *sockets) prepare(addrs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*boundListener{}
	}
	var fresh []*boundListener
	for _, a := range addrs {
		if _, ok := s.m[a]; ok {
			continue
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, b := range fresh {
				b.ln.Close()
				delete(s.m, b.addr)
			}
			return fmt.Errorf("cannot bind listener address %s: %v", a, err)
		}
		b := &boundListener{addr: a, ln: ln}
		fresh = append(fresh, b)
		s.m[a] = b
	}
	return nil
}

// commit installs the new per-address configs, starts serving new sockets
// and drains the ones no listener uses any more.
func (s *sockets) commit(rts map[string]*listenerRT) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, b := range s.m {
		lr, ok := rts[a]
		if !ok {
			delete(s.m, a)
			s.drainOne(b)
			continue
		}
		b.cur.Store(lr)
		if !b.on {
			b.on = true
			h := lr.cfg.hcm
			p := new(http.Protocols)
			p.SetHTTP1(true)
			p.SetUnencryptedHTTP2(true)
			b.srv = &http.Server{Handler: b, Protocols: p, IdleTimeout: h.idleTimeout, ReadHeaderTimeout: h.headersTimeout,
				ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_ = b.srv.Serve(b.ln)
			}()
		}
	}
}

// drainOne stops accepting, lets in-flight requests finish (up to the drain
// timeout), then closes what is left.
func (s *sockets) drainOne(b *boundListener) {
	if !b.on {
		b.ln.Close()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.drain)
		defer cancel()
		if err := b.srv.Shutdown(ctx); err != nil {
			b.srv.Close()
		}
	}()
}

func (s *sockets) addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for a, b := range s.m {
		if b.on {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// closeAll drains every listener and waits.
func (s *sockets) closeAll() {
	s.mu.Lock()
	for a, b := range s.m {
		delete(s.m, a)
		s.drainOne(b)
	}
	s.mu.Unlock()
	s.wg.Wait()
}
