package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Pool is the HTTP/1.1 client of one plaintext upstream host. It runs an
// exchange on the caller's goroutine: write the request, read the response
// head, and hand the connection back to the pool when the caller has read
// the body to its end. net/http's Transport runs two goroutines per
// connection (readLoop, writeLoop) and passes every request and response
// between them over channels; on bench/proxy.sh that hand-off and the
// wake-ups it causes were about a third of the proxy's CPU.
//
// What it keeps from net/http's Transport, because the router and Envoy's
// behaviour rely on it:
//   - keep-alive unless either side says Connection: close, the response is
//     HTTP/1.0 without keep-alive, or its body runs to the end of the
//     connection; a body not read to its end closes the connection;
//   - 1xx informational responses are skipped (Expect: 100-continue passes
//     through and the body is sent at once, as ExpectContinueTimeout 0 did);
//   - an upstream may close an idle connection at any time. Before a
//     request that cannot be repeated (a body, a method that is not
//     idempotent) the pool probes the connection for the upstream's FIN,
//     as net/http's readLoop notices it; a request that can be repeated
//     fails on such a connection before any response byte arrives and is
//     sent again on another one (net/http's rule);
//   - max_connections bounds the connections (0: unlimited, as
//     MaxConnsPerHost); requests beyond it wait for one;
//   - idle connections are closed after an hour (Envoy's upstream
//     idle_timeout default and the IdleConnTimeout used before).
//
// Requests with a body write it from a second goroutine while the caller
// reads the response, so an upstream may answer before reading all of it.
// Upgrades (websocket) and bodies of unknown length declared as zero go to
// net/http's Transport (fallback), which returns the 101 body as a
// read-write stream.
type h1Pool struct {
	network, addr string
	dialer        net.Dialer
	maxConns      int // 0: unlimited
	newFallback   func() http.RoundTripper
	fallbackOnce  sync.Once
	fallbackRT    http.RoundTripper

	idleFor time.Duration      // idle connections older than this are closed
	now     func() time.Time   // tests move the clock
	peek    func(*h1Conn) bool // liveness probe of an idle connection
	onDial  func(net.Conn)     // tests observe dials

	mu      sync.Mutex
	idle    []*h1Conn      // most recently used last: reuse the warmest
	open    int            // dialing, idle and busy connections
	waiters []chan *h1Conn // requests waiting for a connection or a dial slot
	closed  bool           // closeIdle was called: keep nothing idle
}

// maxResponseHeader bounds what an upstream may send before the body:
// Envoy's default max_response_headers_kb, 80 KiB. More is a protocol
// error (502).
const maxResponseHeader = 80 << 10

// max1xx bounds informational responses before the final one (net/http's).
const max1xx = 5

var (
	errHeaderTooLarge = errors.New("upstream response headers too large")
	errTooMany1xx     = errors.New("upstream sent too many 1xx responses")
	errBodyClosed     = errors.New("http: read on closed response body")
	// errRequestBody is the cause when reading the downstream request body
	// failed while it was being sent upstream.
	errRequestBody = errors.New("reading the request body failed")
)

// afterFuncer is a context that runs a function when it is done, as
// context.AfterFunc does (the context package's own hook for contexts
// that are not its own).
type afterFuncer interface {
	AfterFunc(func()) (stop func() bool)
}

// aLongTimeAgo interrupts blocked reads and writes when a context ends.
var aLongTimeAgo = time.Unix(1, 0)

func newH1Pool(network, addr string, connectTimeout time.Duration, maxConns int, fallback func() http.RoundTripper) *h1Pool {
	return &h1Pool{network: network, addr: addr, maxConns: maxConns, newFallback: fallback,
		dialer:  net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second},
		idleFor: time.Hour, now: time.Now, peek: peekAlive}
}

// h1Conn is one upstream connection. Only the goroutine running an exchange
// reads from it; the body writer goroutine, when there is one, writes.
type h1Conn struct {
	p      *h1Pool
	nc     net.Conn
	rc     syscall.RawConn // for the liveness probe; nil when not a socket
	br     *bufio.Reader
	bw     *bufio.Writer
	reused bool      // served an exchange before this one
	idleAt time.Time // when it went back to the pool
	nread  int64     // bytes read in this exchange
	unsent bool      // the request's first write failed with nothing sent
	limit  int64     // bytes the response head may still take; <0: no limit

	// Per exchange.
	stop      func() bool  // unregisters the context's interrupt
	wstate    atomic.Int32 // the body writer's progress: wWriting...
	interrupt func()       // c.abort as a func value, made once per connection
}

// Read counts bytes (a failure before the first response byte may be a
// stale keep-alive connection) and bounds the response head.
func (c *h1Conn) Read(p []byte) (int, error) {
	if c.limit >= 0 {
		if c.limit == 0 {
			return 0, errHeaderTooLarge
		}
		if int64(len(p)) > c.limit {
			p = p[:c.limit]
		}
	}
	n, err := c.nc.Read(p)
	c.nread += int64(n)
	if c.limit >= 0 {
		c.limit -= int64(n)
	}
	return n, err
}

// abort makes blocked reads and writes fail; the connection is then closed
// rather than reused (release sees that stop() found it already run).
func (c *h1Conn) abort() { _ = c.nc.SetDeadline(aLongTimeAgo) }

// fallback is net/http's Transport for what h1Pool leaves to it, made on
// first use.
func (p *h1Pool) fallback() http.RoundTripper {
	p.fallbackOnce.Do(func() {
		t := p.newFallback()
		p.mu.Lock()
		p.fallbackRT = t
		p.mu.Unlock()
	})
	return p.fallbackRT
}

func (p *h1Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	bodyLen, ok := outgoingLength(req)
	if !ok || req.Header.Get("Upgrade") != "" {
		return p.fallback().RoundTrip(req)
	}
	if err := validRequest(req); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	// A request that may be sent again skips the liveness probe: when the
	// upstream closed the connection, the retry below covers it, and the
	// probe's system call is saved on most requests.
	retryable := bodyLen == 0 && idempotent(req)
	for {
		c, err := p.get(ctx, !retryable)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := c.exchange(ctx, req, bodyLen)
		if err == nil {
			return resp, nil
		}
		// Nothing came back on a connection that had been idle: the
		// upstream most likely closed it as the request went out. A new
		// connection is tried when sending again cannot repeat a side
		// effect: nothing of a bodiless request left (any method), or
		// the request can be repeated (net/http's nothingWrittenError
		// and isReplayable rules). The pool's probe makes this rare.
		safe := (c.unsent && bodyLen == 0) || (c.nread == 0 && retryable)
		if !c.reused || !safe || ctx.Err() != nil {
			closeBody(req)
			return nil, err
		}
	}
}

// exchange sends req on c and reads the response head. On error c is closed.
func (c *h1Conn) exchange(ctx context.Context, req *http.Request, bodyLen int64) (*http.Response, error) {
	c.nread, c.unsent = 0, false
	c.wstate.Store(wDone)
	if a, ok := ctx.(afterFuncer); ok {
		// The downstream server's request context: registering with it
		// directly skips context.AfterFunc's own context, its closures
		// and the parent's Done channel, a few percent of the proxy's CPU.
		c.stop = a.AfterFunc(c.interrupt)
	} else {
		c.stop = context.AfterFunc(ctx, c.interrupt)
	}
	c.writeHead(req, bodyLen)
	if bodyLen == 0 {
		head := c.bw.Buffered()
		if err := c.bw.Flush(); err != nil {
			c.unsent = c.bw.Buffered() == head
			return nil, c.fail(ctx, err)
		}
		// The answer cannot be there yet: reading now would fail with
		// EAGAIN and park. Letting the other runnable requests go first
		// often finds it arrived; on bench/proxy.sh this and the same
		// yield in h1srv took the proxy from 3.9 to 3.2 reads per request
		// (perf stat), with fewer context switches.
		runtime.Gosched()
	} else {
		c.wstate.Store(wWriting)
		go c.writeBody(req, bodyLen)
	}
	c.limit = maxResponseHeader
	var resp *http.Response
	var respLen int64
	var err error
	for n := 0; ; n++ {
		resp, respLen, err = c.readResponse(req)
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if n == max1xx {
			return nil, c.fail(ctx, errTooMany1xx)
		}
		c.limit = maxResponseHeader
	}
	c.limit = -1
	keep := !resp.Close && !req.Close && !hasToken(req.Header["Connection"], "close") &&
		resp.StatusCode != http.StatusSwitchingProtocols
	if respLen > 0 {
		b := &h1Body{c: c, keep: keep, ctx: ctx, length: lengthBody{br: c.br, n: respLen}}
		b.rc = &b.length
		resp.Body = b
		return resp, nil
	}
	if resp.Body == http.NoBody {
		// HEAD, 204, 304, Content-Length: 0: the exchange is over.
		c.release(keep)
		return resp, nil
	}
	resp.Body = &h1Body{c: c, rc: resp.Body, keep: keep, ctx: ctx}
	return resp, nil
}

// fail closes c after a failed exchange and says why: the context's error
// when the context ended (the read then fails only because abort ran).
func (c *h1Conn) fail(ctx context.Context, err error) error {
	c.release(false)
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// release ends an exchange: the connection goes back to the pool when it
// can carry another request, else it is closed.
func (c *h1Conn) release(reuse bool) {
	stopped := c.stop()
	if !reuse || !stopped {
		c.p.discard(c)
		return
	}
	switch c.wstate.Load() {
	case wDone:
		c.p.put(c)
		return
	case wFailed:
		c.p.discard(c)
		return
	}
	// The response ended while the body writer runs: it has yet to report
	// its last write, or the upstream answered before reading the whole
	// body. The writer decides (bodyDone); the deadline bounds a writer
	// stuck on an upstream that stopped reading, as net/http's
	// maxWriteWaitBeforeConnReuse does, without holding this goroutine.
	// The deadline is set before the hand-over so that it can never land
	// on a connection the writer has already pooled.
	_ = c.nc.SetWriteDeadline(time.Now().Add(maxWriteWait))
	if c.wstate.CompareAndSwap(wWriting, wHanded) {
		return
	}
	_ = c.nc.SetWriteDeadline(time.Time{})
	if c.wstate.Load() == wDone {
		c.p.put(c)
		return
	}
	c.p.discard(c)
}

// The body writer's progress (h1Conn.wstate).
const (
	wWriting int32 = iota
	wDone          // the whole request went out
	wFailed        // the writer failed; the connection is out of sync
	wHanded        // the exchange ended first: the writer pools or closes
)

// maxWriteWait is how long a body writer may still take once the response
// has ended (net/http's maxWriteWaitBeforeConnReuse).
const maxWriteWait = 50 * time.Millisecond

// bodyDone records the body writer's outcome; when the exchange has
// already ended, the writer returns the connection itself.
func (c *h1Conn) bodyDone(err error) {
	if err == nil {
		if !c.wstate.CompareAndSwap(wWriting, wDone) {
			_ = c.nc.SetWriteDeadline(time.Time{})
			c.p.put(c)
		}
		return
	}
	if !c.wstate.CompareAndSwap(wWriting, wFailed) {
		c.p.discard(c)
	}
}

// h1Body is a response body; its end returns the connection to the pool.
type h1Body struct {
	c    *h1Conn
	rc   io.ReadCloser // http.ReadResponse's body, reading c.br
	keep bool
	ctx  context.Context
	done atomic.Bool // the connection was released
	err  error       // what Read returns once done
	// length is rc for a simple response (readResponse), allocated with
	// the h1Body.
	length lengthBody
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	if err != nil {
		if err == io.EOF {
			b.err = err
			b.finish(true)
			return n, err
		}
		if b.ctx.Err() != nil {
			// The read failed because the context's interrupt ran.
			err = fmt.Errorf("%w (%v)", b.ctx.Err(), err)
		}
		b.err = err
		b.finish(false)
	}
	return n, err
}

// Close before the end closes the connection: draining an unknown amount
// from a possibly slow upstream would hold the caller (net/http does the
// same). rc is not closed: its Close drains.
func (b *h1Body) Close() error {
	if b.err == nil {
		b.err = errBodyClosed
	}
	b.finish(false)
	return nil
}

func (b *h1Body) finish(ok bool) {
	if b.done.CompareAndSwap(false, true) {
		b.c.release(ok && b.keep)
	}
}

// get returns an idle connection that is still open (probed when probe
// is set), or dials one.
func (p *h1Pool) get(ctx context.Context, probe bool) (*h1Conn, error) {
	for {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			if p.usable(c, probe) {
				return c, nil
			}
			p.discard(c)
			continue
		}
		if p.maxConns <= 0 || p.open < p.maxConns {
			p.open++
			p.mu.Unlock()
			return p.dial(ctx)
		}
		ch := make(chan *h1Conn, 1)
		p.waiters = append(p.waiters, ch)
		p.mu.Unlock()
		select {
		case c := <-ch:
			if c == nil {
				return p.dial(ctx) // a connection closed: its slot is ours
			}
			if p.usable(c, probe) {
				return c, nil
			}
			p.discard(c)
		case <-ctx.Done():
			p.leave(ch)
			return nil, ctx.Err()
		}
	}
}

// leave removes a waiter that gave up; what was handed to it meanwhile
// goes to the next one.
func (p *h1Pool) leave(ch chan *h1Conn) {
	p.mu.Lock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			return
		}
	}
	p.mu.Unlock()
	if c := <-ch; c != nil {
		p.put(c)
	} else {
		p.freeSlot()
	}
}

// usable checks an idle connection before it carries a request: not idle
// for too long, and not closed by the upstream meanwhile (the probe sees
// the FIN that net/http's readLoop would have seen).
func (p *h1Pool) usable(c *h1Conn, probe bool) bool {
	if p.now().Sub(c.idleAt) >= p.idleFor {
		return false
	}
	return c.br.Buffered() == 0 && (!probe || p.peek(c))
}

func (p *h1Pool) dial(ctx context.Context) (*h1Conn, error) {
	nc, err := p.dialer.DialContext(ctx, p.network, p.addr)
	if err != nil {
		p.freeSlot()
		return nil, err
	}
	if p.onDial != nil {
		p.onDial(nc)
	}
	c := &h1Conn{p: p, nc: nc, limit: -1}
	if sc, ok := nc.(syscall.Conn); ok {
		c.rc, _ = sc.SyscallConn()
	}
	c.br = bufio.NewReader(c)
	c.bw = bufio.NewWriter(nc)
	c.interrupt = c.abort
	return c, nil
}

// put makes c idle, or hands it to a waiting request.
func (p *h1Pool) put(c *h1Conn) {
	c.reused = true
	c.idleAt = p.now()
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- c
		return
	}
	if p.closed {
		p.mu.Unlock()
		p.discard(c)
		return
	}
	p.idle = append(p.idle, c)
	// The oldest idle connections sit at the front; expire them here so
	// that a pool whose load fell does not keep them open for ever.
	var old []*h1Conn
	for len(p.idle) > 1 && c.idleAt.Sub(p.idle[0].idleAt) >= p.idleFor {
		old = append(old, p.idle[0])
		p.idle[0] = nil
		p.idle = p.idle[1:]
	}
	p.mu.Unlock()
	for _, o := range old {
		p.discard(o)
	}
}

// discard closes c and frees its slot.
func (p *h1Pool) discard(c *h1Conn) {
	_ = c.nc.Close()
	p.freeSlot()
}

// freeSlot gives a connection slot to the first waiter, or returns it.
func (p *h1Pool) freeSlot() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- nil
		return
	}
	p.open--
	p.mu.Unlock()
}

// CloseIdleConnections closes the idle connections and keeps none from now
// on (the host left the config; requests still running finish on theirs).
func (p *h1Pool) CloseIdleConnections() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
	p.mu.Lock()
	fb := p.fallbackRT
	p.mu.Unlock()
	if t, ok := fb.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// outgoingLength is the request body's length, -1 when unknown (chunked).
// ok is false for a body that says it is empty but may not be: net/http
// probes such bodies, and only its Transport does that.
func outgoingLength(req *http.Request) (int64, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return 0, true
	}
	if req.ContentLength == 0 {
		return 0, false
	}
	return req.ContentLength, true
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// idempotent is net/http's isReplayable for requests without a body.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

// hasToken reports whether a comma-separated header has token (lower case).
func hasToken(vs []string, token string) bool {
	for _, v := range vs {
		for len(v) > 0 {
			var t string
			t, v, _ = cutComma(v)
			if asciiEqualFold(t, token) {
				return true
			}
		}
	}
	return false
}

func cutComma(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return textproto.TrimString(s[:i]), s[i+1:], true
		}
	}
	return textproto.TrimString(s), "", false
}

// sendsZeroLength is net/http's shouldSendContentLength for empty bodies:
// servers expect a length on these methods.
func sendsZeroLength(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

func itoa64(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
