package h1srv

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxPostHandlerReadBytes is how much unread request body the server
// reads after the handler to keep the connection, as net/http.
const maxPostHandlerReadBytes = 256 << 10

var (
	errTrailerEOF    = errors.New("http: unexpected EOF reading trailer")
	errLongTrailer   = framingError("http: suspiciously long trailer after chunked body")
	errBadChunk      = framingError("malformed chunked encoding")
	errChunkLineLong = framingError("header line too long")
)

// body is a request body: Content-Length delimited or chunked, read
// straight from the connection's bufio.Reader. It behaves as net/http's
// server body (and its expectContinueReader when the client asked for
// 100-continue).
type body struct {
	x       *exchange
	br      *bufio.Reader
	chunked bool
	closing bool  // the connection closes after this request
	remain  int64 // Content-Length: bytes left; chunked: bytes left in the chunk
	// chunked state, as net/http/internal's chunkedReader
	checkEnd bool
	excess   int64
	err      error

	expect bool // answer 100-continue on the first Read

	mu         sync.Mutex
	sawEOF     bool
	closed     bool
	earlyClose bool // closed with more than maxPostHandlerReadBytes unread
	abandoned  bool // a Strict server gave up on the rest (conn.abandonBody)
	// eof mirrors sawEOF for readers that must not wait for mu, which a
	// read blocked on the client holds.
	eof atomic.Bool
}

// framingError is a body the client framed wrongly (a bad chunk), as
// opposed to one cut short: the texts are net/http's.
type framingError string

func (e framingError) Error() string { return string(e) }

// IsFramingError reports whether err, from reading a request body, says
// the client broke the body's framing (a malformed chunk or trailer),
// which Envoy answers with 400 rather than as an upstream failure.
func IsFramingError(err error) bool {
	var fe framingError
	var pe *protoError
	return errors.As(err, &fe) || errors.As(err, &pe)
}

// errBodyAbandoned is what reads of a body the server gave up on return.
var errBodyAbandoned = errors.New("h1srv: request body abandoned: the response is complete")

func (b *body) init(x *exchange, n int64, closing bool) {
	b.x, b.br, b.closing = x, x.w.c.br, closing
	if n < 0 {
		b.chunked = true
	} else {
		b.remain = n
	}
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.abandoned {
		return 0, errBodyAbandoned
	}
	if b.expect {
		b.x.w.sendContinue()
	}
	return b.readLocked(p)
}

func (b *body) readLocked(p []byte) (n int, err error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	if b.chunked {
		n, err = b.readChunked(p)
		if err == io.EOF {
			b.sawEOF = true
			if terr := b.readTrailer(); terr != nil {
				// Nothing more may be read from this body or connection
				// (golang.org/issue/12027).
				err = terr
				b.sawEOF, b.closed = false, true
			}
		}
	} else {
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err = b.br.Read(p)
		b.remain -= int64(n)
		switch {
		case err == io.EOF:
			// Cut short: later reads see EOF, as net/http's body.
			b.sawEOF = true
			if b.remain > 0 {
				err = io.ErrUnexpectedEOF
			}
		case b.remain == 0:
			// EOF with the last bytes, as net/http: a proxy forwarding
			// the body learns it is done without another Read.
			err = io.EOF
			b.sawEOF = true
		}
	}
	if b.sawEOF {
		b.eof.Store(true)
		b.x.w.c.bodyDone()
	}
	return n, err
}

func (b *body) Close() error {
	if b.x.w.c.srv.Strict && !b.mu.TryLock() {
		// A read blocked on the client holds the lock (the proxy's upload
		// to an upstream that failed or timed out): closing must not wait
		// for the client. The server gives up on the body when the
		// handler returns (abandonBody), which ends that read.
		return nil
	} else if !b.x.w.c.srv.Strict {
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	switch {
	case b.sawEOF, b.abandoned:
	case !b.chunked && b.closing:
		// The connection closes next: no point reading to the end.
	case !b.chunked && b.remain > maxPostHandlerReadBytes:
		b.earlyClose = true
	default:
		// Read what is left within the tolerance (and the trailer), so
		// that the connection can serve another request.
		var n int64
		n, err = io.CopyN(io.Discard, lockedBody{b}, maxPostHandlerReadBytes)
		if err == io.EOF {
			err = nil
		}
		if n == maxPostHandlerReadBytes {
			b.earlyClose = true
		}
	}
	b.closed = true
	return err
}

// lockedBody reads a body whose mutex the caller holds.
type lockedBody struct{ b *body }

func (l lockedBody) Read(p []byte) (int, error) {
	if l.b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if l.b.abandoned {
		return 0, errBodyAbandoned
	}
	return l.b.readLocked(p)
}

// state reports, for the response's decisions, whether the body was
// closed, reached EOF, and how many bytes are known to be left (-1:
// unknown, chunked).
func (b *body) state() (closed, sawEOF bool, unread int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	unread = -1
	if !b.chunked {
		unread = b.remain
	}
	return b.closed, b.sawEOF, unread
}

func (b *body) didEarlyClose() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.earlyClose
}

// readChunked is net/http/internal's chunkedReader.Read on b.br.
func (b *body) readChunked(p []byte) (n int, err error) {
	for b.err == nil {
		if b.checkEnd {
			if n > 0 && b.br.Buffered() < 2 {
				break // return what we have rather than block
			}
			var crlf [2]byte
			if _, b.err = io.ReadFull(b.br, crlf[:]); b.err == nil {
				if crlf != [2]byte{'\r', '\n'} {
					b.err = errBadChunk
					break
				}
			} else {
				if b.err == io.EOF {
					b.err = io.ErrUnexpectedEOF
				}
				break
			}
			b.checkEnd = false
		}
		if b.remain == 0 {
			if n > 0 && !b.chunkHeaderAvailable() {
				break
			}
			b.beginChunk()
			continue
		}
		if len(p) == 0 {
			break
		}
		rbuf := p
		if int64(len(rbuf)) > b.remain {
			rbuf = rbuf[:b.remain]
		}
		var n0 int
		n0, b.err = b.br.Read(rbuf)
		n += n0
		p = p[n0:]
		b.remain -= int64(n0)
		if b.remain == 0 && b.err == nil {
			b.checkEnd = true
		} else if b.err == io.EOF {
			b.err = io.ErrUnexpectedEOF
		}
	}
	return n, b.err
}

func (b *body) chunkHeaderAvailable() bool {
	if n := b.br.Buffered(); n > 0 {
		peek, _ := b.br.Peek(n)
		return bytes.IndexByte(peek, '\n') >= 0
	}
	return false
}

func (b *body) beginChunk() {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		switch err {
		case io.EOF:
			err = io.ErrUnexpectedEOF
		case bufio.ErrBufferFull:
			err = errChunkLineLong
		}
		b.err = err
		return
	}
	// A chunk line must end with CRLF, with no other CR (RFC 9112
	// errata 7633).
	if i := bytes.IndexByte(line, '\r'); i == -1 {
		b.err = framingError("chunked line ends with bare LF")
		return
	} else if i != len(line)-2 {
		b.err = framingError("invalid CR in chunked line")
		return
	}
	line = line[:len(line)-2]
	if len(line) >= 4096 {
		b.err = errChunkLineLong
		return
	}
	// Tolerate 16 bytes of overhead per chunk plus twice its data, so
	// that chunk extensions cannot make the sender's noise unbounded.
	b.excess += int64(len(line)) + 2
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	var size uint64
	if size, b.err = parseHex(line); b.err != nil {
		return
	}
	b.remain = int64(size)
	b.excess = max(b.excess-16-2*int64(size), 0)
	if b.excess > 16*1024 {
		b.err = framingError("chunked encoding contains too much non-data")
	}
	if size == 0 {
		b.err = io.EOF
	}
}

func parseHex(v []byte) (n uint64, err error) {
	if len(v) == 0 {
		return 0, framingError("empty hex number for chunk length")
	}
	for i, c := range v {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, framingError("invalid byte in chunk length")
		}
		if i == 16 {
			return 0, framingError("http chunk length too large")
		}
		n = n<<4 | uint64(c)
	}
	// net/http's reader keeps sizes to 64 bits; a body length must also
	// fit an int64.
	if n > 1<<63-1 {
		return 0, framingError("http chunk length too large")
	}
	return n, nil
}

// readTrailer reads the trailer section after the last chunk into the
// request's Trailer, as net/http: it must fit the bufio.Reader's buffer.
func (b *body) readTrailer() error {
	buf, err := b.br.Peek(2)
	if len(buf) == 2 && buf[0] == '\r' && buf[1] == '\n' {
		b.br.Discard(2)
		return nil
	}
	if len(buf) < 2 {
		return errTrailerEOF
	}
	if err != nil {
		return err
	}
	// Look for the CRLF CRLF that ends the trailer within the buffer
	// before parsing, to bound it.
	var view []byte
	for {
		n := b.br.Buffered()
		view, _ = b.br.Peek(n)
		if bytes.Contains(view, []byte("\r\n\r\n")) {
			break
		}
		if _, err := b.br.Peek(n + 1); err != nil {
			return errLongTrailer
		}
	}
	s := &b.x.w.c.scan
	s.reset()
	s.reqLine = true
	end, err := s.scan(view)
	if err != nil {
		return err
	}
	if end == 0 {
		return errTrailerEOF
	}
	text := string(view[:end])
	b.br.Discard(end)
	t := make(http.Header, len(s.fields))
	for i := range s.fields {
		f := &s.fields[i]
		k, _ := canonicalKey(text[f.k0:f.k1])
		v := text[f.v0:f.v1]
		if f.folded {
			v = foldedValue(text, f)
		}
		t[k] = append(t[k], v)
	}
	r := &b.x.req
	if r.Trailer == nil {
		r.Trailer = t
	} else {
		maps.Copy(r.Trailer, t)
	}
	return nil
}

// abandonBody ends a request whose handler returned before its body was
// read to the end (Strict servers): Envoy answers and then closes such a
// connection rather than wait for what the client may still send. A read
// of the body blocked on the client (the proxy's upload to an upstream
// that already answered, or timed out) is interrupted with a past read
// deadline; it is set again until that read lets go of the body, since
// the reader may clear a stale head deadline just after it was set.
func (c *conn) abandonBody(b *body) {
	c.staleDeadline.Store(false)
	for {
		c.rwc.SetReadDeadline(aLongTimeAgo)
		if b.mu.TryLock() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.abandoned = true
	b.mu.Unlock()
	c.deadlineAt = aLongTimeAgo
}
