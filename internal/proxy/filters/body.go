package filters

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
)

// ErrBodyTooLarge is a buffered body over the filter's limit. Envoy
// answers 413 ("Payload Too Large", request_payload_too_large) for a
// request body and 500 for a response body.
var ErrBodyTooLarge = errors.New("body larger than the buffer limit")

// ReadRequestBody buffers up to limit bytes of the request body and puts
// what it read back in front of the rest, so the upstream (and later
// filters) still get the whole body. complete is false when the body is
// longer than limit; body then holds its first limit bytes. A request
// without a body gives nil, true. An error is the client's (a body cut
// short, broken framing): the request cannot go on.
func ReadRequestBody(s *Stream, limit int) (body []byte, complete bool, err error) {
	r := s.Request
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, false, err
	}
	r.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(buf), r.Body), Closer: r.Body}
	if len(buf) > limit {
		return buf[:limit], false, nil
	}
	return buf, true, nil
}

// SetRequestBody replaces the request body: its length becomes
// Content-Length, chunked framing goes. What is left of the old body is
// the downstream server's to discard, as for any body a handler leaves.
func SetRequestBody(s *Stream, b []byte) {
	r := s.Request
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
}

type readCloser struct {
	io.Reader
	io.Closer
}

// ResponseBuffer holds a response until the stream ends, so that a filter
// can read and replace it: Envoy's buffered encodeData. Install it with
// BufferResponse before next; after next returns, Code, Header() and Body
// are the response, which the filter may change, and Send writes it out.
// A body over the limit is dropped and Err is ErrBodyTooLarge (answer
// 500). Informational responses pass through; Flush does nothing (the
// response is held), Hijack fails (an upgrade cannot be buffered).
type ResponseBuffer struct {
	w     http.ResponseWriter
	limit int
	// Code is the response status (0 until the router or a filter below
	// wrote one).
	Code int
	// Body is the response body so far.
	Body []byte
	// Err is ErrBodyTooLarge once the body went over the limit.
	Err  error
	sent bool
}

// BufferResponse installs a ResponseBuffer of limit bytes as s.Writer.
func BufferResponse(s *Stream, limit int) *ResponseBuffer {
	b := &ResponseBuffer{w: s.Writer, limit: limit}
	s.Writer = b
	return b
}

// Header is the response's header map (the downstream's: changes go out
// with Send).
func (b *ResponseBuffer) Header() http.Header { return b.w.Header() }

// WriteHeader records the status; 1xx responses go out at once.
func (b *ResponseBuffer) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		b.w.WriteHeader(code)
		return
	}
	if b.Code == 0 {
		b.Code = code
	}
}

// Write keeps p, up to the limit.
func (b *ResponseBuffer) Write(p []byte) (int, error) {
	if b.Code == 0 {
		b.Code = http.StatusOK
	}
	if b.Err != nil {
		return 0, b.Err
	}
	if len(b.Body)+len(p) > b.limit {
		b.Err, b.Body = ErrBodyTooLarge, nil
		return 0, b.Err
	}
	b.Body = append(b.Body, p...)
	return len(p), nil
}

// Flush does nothing: the response is held until Send.
func (b *ResponseBuffer) Flush() {}

// Hijack fails: a buffered response cannot switch protocols.
func (b *ResponseBuffer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("filters: a buffered response cannot be hijacked")
}

// Send writes the response out: Code (200 when nothing was written),
// the headers with Content-Length set to the body's length when the body
// was changed (changed), and Body.
func (b *ResponseBuffer) Send(changed bool) {
	if b.sent {
		return
	}
	b.sent = true
	if b.Code == 0 {
		b.Code = http.StatusOK
	}
	if changed {
		b.w.Header().Set("Content-Length", strconv.Itoa(len(b.Body)))
	}
	b.w.WriteHeader(b.Code)
	if len(b.Body) > 0 {
		_, _ = b.w.Write(b.Body)
	}
}
