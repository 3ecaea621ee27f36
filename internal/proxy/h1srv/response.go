package h1srv

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bufferBeforeChunking is how much body net/http holds before choosing
// between a computed Content-Length and chunked encoding.
const bufferBeforeChunking = 2048

// response is the http.ResponseWriter. The head is serialized when the
// handler calls WriteHeader (a snapshot, as net/http's header clone) and
// reaches the connection's bufio.Writer with the first body bytes past
// bufferBeforeChunking, a Flush, or the handler's return: a small
// response goes out in one write.
type response struct {
	c *conn
	x *exchange

	status      int
	wroteHeader bool // a final status was (logically) written
	committed   bool // the head is in c.bw
	chunking    bool
	handlerDone atomic.Bool

	contentLength int64 // declared by the handler or computed; -1 unknown
	written       int64
	pending       int // body bytes held before the head is committed (in c.stage unless HEAD)

	closeAfterReply     bool
	wants10KeepAlive    bool
	wantsClose          bool
	fullDuplex          bool
	requestBodyLimitHit bool
	isHEAD              bool
	atLeast11           bool

	writeContinueMu  sync.Mutex
	canWriteContinue atomic.Bool

	// Snapshot of the headers whose fate is decided at commit.
	snapConn []string
	snapCL   []string
	snapTE   []string
	hasConn  bool
	hasDate  bool
	upgrade  bool // an Upgrade header (a 101 keeps its Connection header)
	trailers bool // trailers announced: no computed Content-Length
}

func (w *response) init(c *conn, x *exchange) {
	r := &x.req
	w.c, w.x = c, x
	w.contentLength = -1
	w.isHEAD = r.Method == "HEAD"
	w.atLeast11 = r.ProtoMajor > 1 || r.ProtoMajor == 1 && r.ProtoMinor >= 1
	w.wants10KeepAlive = r.ProtoMajor == 1 && r.ProtoMinor == 0 && hasToken(get(r.Header, "Connection"), "keep-alive")
	w.wantsClose = r.Close || hasToken(get(r.Header, "Connection"), "close")
	// A Strict server answers without reading the rest of the body first
	// (Envoy streams a response while the request still arrives).
	w.fullDuplex = c.srv.Strict
}

func (w *response) Header() http.Header { return w.c.hdr }

func (w *response) WriteHeader(code int) {
	if w.c.hijacked {
		w.c.srv.logf("http: response.WriteHeader on hijacked connection from %s", relevantCaller())
		return
	}
	if w.wroteHeader {
		w.c.srv.logf("http: superfluous response.WriteHeader call from %s", relevantCaller())
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 101 || code > 199 {
		// Sending 100 Continue or a final status ends the automatic one.
		w.disableWriteContinue()
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	h := w.c.hdr
	if cl := get(h, "Content-Length"); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.srv.logf("http: invalid Content-Length of %q", cl)
		}
	}
	w.snapshot()
}

// writeInformational sends a 1xx other than 101 at once, with the
// handler's headers, which stay for the final response (RFC 8297).
func (w *response) writeInformational(code int) {
	w.writeContinueMu.Lock()
	defer w.writeContinueMu.Unlock()
	c := w.c
	b := appendStatusLine(c.head[:0], w.atLeast11, code)
	b = c.appendHeaders(b, c.hdr, excludeFraming)
	b = append(b, "\r\n"...)
	c.head = b
	c.bw.Write(b)
	c.bw.Flush()
}

func (w *response) Write(p []byte) (int, error) { return w.write(len(p), p, "") }

func (w *response) WriteString(s string) (int, error) { return w.write(len(s), nil, s) }

func (w *response) write(n int, p []byte, s string) (int, error) {
	c := w.c
	if c.hijacked {
		if n > 0 {
			c.srv.logf("http: response.Write on hijacked connection from %s", relevantCaller())
		}
		return 0, http.ErrHijacked
	}
	if w.canWriteContinue.Load() {
		w.disableWriteContinue()
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if n == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(n) // even when refused: the connection is then not reused
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if !w.committed {
		if w.pending+n <= bufferBeforeChunking {
			if !w.isHEAD {
				if p != nil {
					c.stage = append(c.stage, p...)
				} else {
					c.stage = append(c.stage, s...)
				}
			}
			w.pending += n
			return n, nil
		}
		w.commitStaged()
	}
	return w.writeBody(p, s)
}

// commitStaged commits the head with the body held so far and writes that
// body after it.
func (w *response) commitStaged() {
	c := w.c
	w.commit(w.pending)
	w.pending = 0
	if len(c.stage) > 0 {
		w.writeBody(c.stage, "")
		c.stage = c.stage[:0]
	}
}

// writeBody writes body bytes in the committed framing.
func (w *response) writeBody(p []byte, s string) (int, error) {
	if w.isHEAD {
		return len(p) + len(s), nil
	}
	bw := w.c.bw
	if w.chunking {
		bw.Write(strconv.AppendUint(bw.AvailableBuffer(), uint64(len(p)+len(s)), 16))
		bw.WriteString("\r\n")
	}
	var n int
	var err error
	if p != nil {
		n, err = bw.Write(p)
	} else {
		n, err = bw.WriteString(s)
	}
	if w.chunking && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		w.c.rwc.Close()
	}
	return n, err
}

func (w *response) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (w *response) FlushError() error {
	if w.c.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commitStaged()
	}
	return w.c.bw.Flush()
}

// finish completes the response after the handler returned: the head if
// still held, the last chunk and trailers, and one flush.
func (w *response) finish() {
	w.handlerDone.Store(true)
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commitStaged()
	}
	c := w.c
	if w.chunking {
		c.bw.WriteString("0\r\n")
		c.bw.Write(c.appendTrailers(c.head[:0], w))
		c.bw.WriteString("\r\n")
	}
	c.bw.Flush()
}

// shouldReuseConnection is net/http's: a close was asked for or decided,
// the declared length was not met, a write failed, or the unread body
// was too large to skip.
func (w *response) shouldReuseConnection() bool {
	if w.closeAfterReply {
		return false
	}
	if !w.isHEAD && w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false
	}
	if w.c.werr != nil {
		return false
	}
	return !w.closedRequestBodyEarly()
}

func (w *response) closedRequestBodyEarly() bool {
	return w.x.req.Body == &w.x.body && w.x.body.didEarlyClose()
}

// Hijack hands the connection over, with a bufio.Reader holding whatever
// was read past the request already.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.handlerDone.Load() {
		panic("net/http: Hijack called after ServeHTTP finished")
	}
	w.disableWriteContinue()
	c := w.c
	if c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.wroteHeader {
		if !w.committed {
			w.commitStaged()
		}
		c.bw.Flush()
	}
	c.stopBackgroundRead()
	c.hijacked = true
	c.srv.forget(c)
	c.staleDeadline.Store(false)
	c.rwc.SetDeadline(time.Time{})
	if c.cr.hasByte {
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return nil, nil, fmt.Errorf("unexpected Peek failure reading buffered byte: %v", err)
		}
	}
	c.cr.hijacked.Store(true)
	c.bw.Reset(c.rwc)
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline, SetWriteDeadline and EnableFullDuplex serve
// http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error {
	w.c.staleDeadline.Store(false) // the handler's deadline wins
	w.c.handlerDeadline.Store(true)
	return w.c.rwc.SetReadDeadline(t)
}
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// sendContinue answers Expect: 100-continue on the first body read,
// unless the handler already answered.
func (w *response) sendContinue() {
	if !w.canWriteContinue.Load() {
		return
	}
	w.writeContinueMu.Lock()
	defer w.writeContinueMu.Unlock()
	if w.canWriteContinue.Load() {
		w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		w.c.bw.Flush()
		w.canWriteContinue.Store(false)
	}
}

func (w *response) disableWriteContinue() {
	w.writeContinueMu.Lock()
	w.canWriteContinue.Store(false)
	w.writeContinueMu.Unlock()
}

// requestTooLarge marks a body too large to skip: the connection closes.
func (w *response) requestTooLarge() {
	w.closeAfterReply = true
	w.requestBodyLimitHit = true
	if !w.wroteHeader {
		w.c.hdr.Set("Connection", "close")
	}
}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199, status == 204, status == 304:
		return false
	}
	return true
}

// relevantCaller names the first caller outside this package and
// net/http, for misuse logs.
func relevantCaller() string {
	pc := make([]uintptr, 16)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if !strings.Contains(f.Function, "/h1srv.") && !strings.HasPrefix(f.Function, "net/http.") {
			return fmt.Sprintf("%s (%s:%d)", f.Function, path.Base(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}
