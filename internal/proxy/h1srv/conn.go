package h1srv

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one downstream connection, served by one goroutine: the
// bufio.Reader and Writer, the head scanner and the response scratch
// buffers are reused by every request on it.
type conn struct {
	srv        *Server
	rwc        net.Conn
	remoteAddr string
	localAddr  net.Addr
	state      atomic.Int32 // connIdle, connActive, connClosed (for Shutdown)
	idleSince  atomic.Int64 // about when it last became idle, Unix ns (for CloseIdle)

	cr connReader
	cw connWriter
	br *bufio.Reader
	bw *bufio.Writer

	scan     scanner
	hdr      http.Header // the ResponseWriter's, cleared between requests
	head     []byte      // response head being built
	stage    []byte      // body held before the head is committed
	keys     []string    // header sort scratch
	declared []string    // declared trailer names

	cur        atomic.Pointer[exchange]
	werr       error
	hijacked   bool
	handedOff  bool
	lastMethod string
	idle       bool // waiting for a request under the idle timeout

	lastArmed   int64       // when armReadDeadline last looked at the clock, Unix ns
	lim         *Limits     // the server's, read before each request
	headTimeout *protoError // a Strict server's answer when the head deadline armed fires

	deadlineAt      time.Time   // the read deadline set, zero if none (conn goroutine)
	staleDeadline   atomic.Bool // deadlineAt outlived the head it was for
	handlerDeadline atomic.Bool // the handler set a read deadline

	bgMu      sync.Mutex
	bgCond    sync.Cond
	bgState   int
	bgAborted bool
	bgTimer   *time.Timer
	inHandler bool
}

const (
	connIdle = iota
	connActive
	connClosed
)

// connReader feeds the bufio.Reader: it first returns a byte the
// background read took, and cancels the request when reading fails (the
// client is gone), as net/http's connReader.
type connReader struct {
	c        *conn
	hasByte  bool
	byteBuf  [1]byte
	hijacked atomic.Bool // the handler's now: body reads on other goroutines may still come
}

func (cr *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	cr.c.dropStaleDeadline()
	if cr.hasByte {
		p[0] = cr.byteBuf[0]
		cr.hasByte = false
		return 1, nil
	}
	n, err := cr.c.rwc.Read(p)
	if err != nil && !cr.hijacked.Load() {
		if x := cr.c.cur.Load(); x != nil {
			x.ctx.cancel()
		}
	}
	return n, err
}

// connWriter notes the first write error and cancels the request.
type connWriter struct{ c *conn }

func (cw connWriter) Write(p []byte) (int, error) {
	n, err := cw.c.rwc.Write(p)
	if err != nil && cw.c.werr == nil {
		cw.c.werr = err
		if x := cw.c.cur.Load(); x != nil {
			x.ctx.cancel()
		}
	}
	return n, err
}

type connBufs struct {
	br    *bufio.Reader
	bw    *bufio.Writer
	head  []byte
	stage []byte
}

var bufsPool sync.Pool

func newConn(s *Server, rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, localAddr: rwc.LocalAddr(), hdr: make(http.Header), lim: s.currentLimits(),
		lastArmed: time.Now().UnixNano()}
	c.idleSince.Store(c.lastArmed)
	if ra := rwc.RemoteAddr(); ra != nil {
		c.remoteAddr = ra.String()
	}
	c.cr.c, c.cw.c = c, c
	c.bgCond.L = &c.bgMu
	if b, ok := bufsPool.Get().(*connBufs); ok {
		b.br.Reset(&c.cr)
		b.bw.Reset(c.cw)
		c.br, c.bw, c.head, c.stage = b.br, b.bw, b.head, b.stage
	} else {
		c.br = bufio.NewReaderSize(&c.cr, 4096)
		c.bw = bufio.NewWriterSize(c.cw, 4096)
		c.head = make([]byte, 0, 512)
		c.stage = make([]byte, 0, bufferBeforeChunking)
	}
	return c
}

// release returns the buffers for another connection (not after a
// hijack: the handler holds them).
func (c *conn) release() {
	if c.hijacked || c.br == nil {
		return
	}
	c.br.Reset(nil)
	c.bw.Reset(nil)
	bufsPool.Put(&connBufs{br: c.br, bw: c.bw, head: c.head[:0], stage: c.stage[:0]})
	c.br, c.bw = nil, nil
}

// h2Prefix starts the HTTP/2 client preface; net/http decides the rest
// (a full preface is HTTP/2, "PRI * HTTP/2.0" alone an HTTP/1 upgrade).
const h2Prefix = "PRI * HTTP/2.0"

// serve runs the connection until it closes or is handed over.
func (c *conn) serve() {
	defer func() {
		if c.hijacked || c.handedOff {
			return
		}
		c.srv.forget(c)
		c.rwc.Close()
		c.release()
	}()
	// Waiting for the first request is idle time too (Envoy's
	// connection idle timer runs from the accept).
	c.armReadDeadline(c.lim.IdleTimeout, true)
	c.idle = true
	if c.handOffH2() {
		return
	}
	for {
		if !c.waitForRequest() {
			return
		}
		if !c.serveRequest() {
			return
		}
		if c.srv.shuttingDown() {
			return
		}
		c.lim = c.srv.currentLimits()
		c.armReadDeadline(c.lim.IdleTimeout, false)
		c.idle = true
	}
}

// armHeadDeadline replaces the idle deadline once a request's first byte
// is in: the head must be complete within the header timeout or the
// stream idle timeout, whichever is sooner, unless it is all here already.
func (c *conn) armHeadDeadline() {
	c.headTimeout = nil
	d, why := c.lim.HeaderTimeout, errHeaderTimeout
	if si := c.lim.StreamIdleTimeout; si > 0 && (d <= 0 || si < d) {
		d, why = si, errStreamTimeout
	}
	if d > 0 && !c.headBuffered() {
		c.armReadDeadline(d, true)
		c.headTimeout = why
	}
}

// handOffH2 gives a connection that opens with the HTTP/2 preface to
// Server.Other, with the bytes read so far replayed.
func (c *conn) handOffH2() bool {
	if c.srv.Other == nil {
		return false
	}
	for {
		b, _ := c.br.Peek(c.br.Buffered())
		if len(b) == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return false
			}
			continue
		}
		m := min(len(b), len(h2Prefix))
		if string(b[:m]) != h2Prefix[:m] {
			return false
		}
		if m == len(h2Prefix) {
			break
		}
		if _, err := c.br.Peek(len(b) + 1); err != nil {
			return false
		}
	}
	buffered, _ := c.br.Peek(c.br.Buffered())
	pc := &prefacedConn{Conn: c.rwc, pre: bytes.Clone(buffered)}
	c.srv.forget(c)
	c.rwc.SetReadDeadline(time.Time{})
	c.release()
	c.handedOff = true
	c.srv.Other(pc)
	return true
}

// waitForRequest waits, idle, for the first byte of a request; Shutdown
// may close the connection meanwhile.
func (c *conn) waitForRequest() bool {
	if c.br.Buffered() > 0 || c.cr.hasByte {
		return c.state.CompareAndSwap(connIdle, connActive) || c.state.Load() == connActive
	}
	// A connection CloseIdle closed, maybe before this goroutine first ran,
	// stays closed: marked idle again, it would be counted as closed a
	// second time, freeing no room for the connection it was closed for.
	if !c.state.CompareAndSwap(connActive, connIdle) && c.state.Load() != connIdle {
		return false
	}
	c.idleSince.Store(c.lastArmed)
	if c.srv.shuttingDown() {
		return false
	}
	// The client has just been answered and cannot have sent its next
	// request yet: reading at once costs a read that fails with EAGAIN.
	// Other runnable connections go first (see the same yield in the
	// proxy's upstream client).
	runtime.Gosched()
	if _, err := c.br.Peek(1); err != nil {
		return false
	}
	return c.state.CompareAndSwap(connIdle, connActive)
}

// serveRequest reads one request, runs the handler and finishes the
// response. It reports whether the connection may serve another.
// Its steps share the per-connection state they check and release, in
// the order net/http's conn.serve takes them; one function keeps that
// order in view.
func (c *conn) serveRequest() bool {
	if c.lastMethod == "POST" {
		// RFC 7230 section 3 tolerance for old clients that end a POST
		// body with an extra CRLF, as net/http.
		peek, _ := c.br.Peek(4)
		n := 0
		for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
			n++
		}
		c.br.Discard(n)
	}
	if c.idle {
		// The idle timeout ran until the first byte.
		c.idle = false
		c.armHeadDeadline()
	}
	head, view, err := c.readHead()
	if err != nil {
		c.replyError(err)
		return false
	}
	s := string(head)
	if view {
		c.br.Discard(len(head))
	}
	x, err := c.newExchange(s)
	if err != nil {
		c.replyError(err)
		return false
	}
	c.headRead()
	c.lastMethod = x.req.Method
	x.w.init(c, x)
	r := &x.req
	*r = *r.WithContext(&x.ctx) // inlined: no second Request is allocated
	c.cur.Store(x)

	if hasToken(get(r.Header, "Expect"), "100-continue") {
		if r.ProtoMajor == 1 && r.ProtoMinor >= 1 && r.ContentLength != 0 {
			x.body.expect = true
			x.w.canWriteContinue.Store(true)
		}
	} else if get(r.Header, "Expect") != "" {
		// Not an expectation we can meet (RFC 9110 10.1.1).
		c.hdr.Set("Connection", "close")
		x.w.WriteHeader(http.StatusExpectationFailed)
		x.w.finish()
		if x.body.x != nil {
			x.body.Close()
		}
		return false
	}

	c.bgMu.Lock()
	c.inHandler = true
	c.bgMu.Unlock()
	if r.Body == http.NoBody {
		c.armBackgroundRead()
	}
	if !c.runHandler(x) {
		return false
	}
	if c.hijacked {
		return false
	}
	abandoned := c.srv.Strict && x.body.x != nil && !x.body.eof.Load()
	if abandoned {
		x.w.closeAfterReply = true
		c.abandonBody(&x.body)
	}
	x.w.finish()
	c.stopBackgroundRead()
	if x.body.x != nil {
		x.body.Close()
	}
	c.requestDone()
	c.cur.Store(nil)
	clear(c.hdr)
	c.stage = c.stage[:0]
	if !x.w.shouldReuseConnection() {
		if x.w.requestBodyLimitHit || x.w.closedRequestBodyEarly() || abandoned {
			c.closeWriteAndWait()
		}
		return false
	}
	return true
}

// headBuffered reports whether a whole request head is already buffered,
// in which case no header timeout needs arming.
func (c *conn) headBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Contains(b, []byte("\r\n\r\n"))
}

// runHandler calls the handler; a panic ends the connection, logged
// unless it is http.ErrAbortHandler, with only what was already committed
// sent (net/http sends nothing if the response had not started).
func (c *conn) runHandler(x *exchange) (ok bool) {
	defer func() {
		c.bgMu.Lock()
		c.inHandler = false
		c.bgMu.Unlock()
		if ok {
			return
		}
		// A nil recover is runtime.Goexit: no panic to report.
		if err := recover(); err != nil && err != http.ErrAbortHandler {
			const size = 64 << 10
			buf := make([]byte, size)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf("http: panic serving %v: %v\n%s", c.remoteAddr, err, buf)
		}
		x.ctx.cancel()
		x.w.disableWriteContinue()
		if !c.hijacked {
			c.stopBackgroundRead()
			if x.w.committed {
				c.bw.Flush()
			}
		}
	}()
	if x.req.RequestURI == "*" && x.req.Method == "OPTIONS" {
		globalOptions(&x.w, &x.req)
	} else {
		c.srv.Handler.ServeHTTP(&x.w, &x.req)
	}
	x.ctx.cancel()
	return true
}

// globalOptions answers "OPTIONS *" as net/http's server does, without
// the handler.
func globalOptions(w *response, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		// Up to 4 KiB of body is read; more closes the connection.
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 4<<10+1))
		if n > 4<<10 {
			w.requestTooLarge()
		}
	}
}

// replyError answers a request net/http would refuse, as net/http
// words it, then the connection closes.
func (c *conn) replyError(err error) {
	const errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	pe, ok := err.(*protoError)
	if !ok {
		return // the client went away or timed out: nothing to say
	}
	status := http.StatusText(pe.code)
	var msg string
	switch {
	case c.srv.Strict:
		msg = strictReply(pe, status)
	case pe.code == http.StatusNotImplemented:
		msg = "HTTP/1.1 501 " + status + errorHeaders + "Unsupported transfer encoding"
	case pe.text != "":
		msg = "HTTP/1.1 " + itoa3(pe.code) + " " + status + ": " + pe.text + errorHeaders + itoa3(pe.code) + " " + status + ": " + pe.text
	default:
		msg = "HTTP/1.1 " + itoa3(pe.code) + " " + status + errorHeaders + itoa3(pe.code) + " " + status
	}
	c.bw.WriteString(msg)
	c.bw.Flush()
	if pe.code == http.StatusRequestHeaderFieldsTooLarge || c.srv.Strict {
		// The client may still be sending its head: let it read the
		// answer before our close turns into a reset.
		c.closeWriteAndWait()
	}
}

// strictReply is a refusal as Envoy's HTTP/1 codec words it: the status
// text as the body (or the timeout's own), and the connection closes.
func strictReply(pe *protoError, status string) string {
	body := status
	if pe.hasBody {
		body = pe.body
	}
	b := make([]byte, 0, 160+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = append(b, itoa3(pe.code)...)
	b = append(b, ' ')
	b = append(b, status...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if body != "" {
		b = append(b, "\r\nContent-Type: text/plain"...)
	}
	b = append(b, "\r\nDate: "...)
	b = appendDate(b)
	b = append(b, "\r\nConnection: close\r\n\r\n"...)
	return string(append(b, body...))
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// rstAvoidanceDelay is how long a closing connection keeps reading after
// its last response, so that unread request bytes do not make the close a
// reset that destroys the response in the client's buffers.
const rstAvoidanceDelay = 500 * time.Millisecond

// closeWriteAndWait half-closes and drains the connection for at most
// rstAvoidanceDelay (net/http sleeps that long instead).
func (c *conn) closeWriteAndWait() {
	c.bw.Flush()
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.rwc.SetReadDeadline(time.Now().Add(rstAvoidanceDelay))
	io.Copy(io.Discard, c.rwc)
}
