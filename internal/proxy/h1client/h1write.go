package h1client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// Writing HTTP/1.1 requests for Pool. The checks are those net/http's
// Transport makes before sending, so that a header mutation (a filter, a
// route's headers_to_add) can never split a request; the framing headers
// come from the request's length as Request.Write does. Header order is
// the map's: net/http sorted them, which cost time and means nothing to a
// server.

// validRequest is the Transport's validation of what goes on the wire.
func validRequest(req *http.Request) error {
	if req.URL == nil {
		return errors.New("http: nil Request.URL")
	}
	if req.Method != "" && !validToken(req.Method) {
		return fmt.Errorf("net/http: invalid method %q", req.Method)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if host == "" {
		return errors.New("http: no Host in request URL")
	}
	if !validValue(host) || strings.ContainsAny(host, " \t") {
		return errors.New("http: invalid Host header")
	}
	if hasCTL(req.URL.Opaque) || hasCTL(req.URL.RawPath) || hasCTL(req.URL.Path) || hasCTL(req.URL.RawQuery) {
		return errors.New("net/http: can't write control character in Request.URL")
	}
	for k, vs := range req.Header {
		if !validToken(k) {
			return fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !validValue(v) {
				// The value may be secret: not in the error.
				return fmt.Errorf("net/http: invalid header field value for %q", k)
			}
		}
	}
	for k := range req.Trailer {
		if !validToken(k) {
			return fmt.Errorf("net/http: invalid trailer field name %q", k)
		}
	}
	return nil
}

// validToken is RFC 9110's token (header names, methods).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValue rejects control characters other than tab (CR, LF, NUL...).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// writeHead buffers the request line and header block. Write errors stick
// in the bufio.Writer and surface at Flush.
func (c *h1Conn) writeHead(req *http.Request, bodyLen int64) {
	w := c.bw
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	_, _ = w.WriteString(method)
	_ = w.WriteByte(' ')
	if u := req.URL; u.Opaque != "" {
		_, _ = w.WriteString(u.RequestURI())
	} else {
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		_, _ = w.WriteString(p)
		if u.ForceQuery || u.RawQuery != "" {
			_ = w.WriteByte('?')
			_, _ = w.WriteString(u.RawQuery)
		}
	}
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	if req.Host != "" {
		_, _ = w.WriteString(req.Host)
	} else {
		_, _ = w.WriteString(req.URL.Host)
	}
	_, _ = w.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // from the request's fields, as Request.Write does
		}
		for _, v := range vs {
			_, _ = w.WriteString(k)
			_, _ = w.WriteString(": ")
			_, _ = w.WriteString(textproto.TrimString(v))
			_, _ = w.WriteString("\r\n")
		}
	}
	switch {
	case bodyLen > 0 || (bodyLen == 0 && sendsZeroLength(method)):
		var nb [20]byte
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.Write(itoa64(nb[:0], bodyLen))
		_, _ = w.WriteString("\r\n")
	case bodyLen < 0:
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
		if len(req.Trailer) > 0 {
			_, _ = w.WriteString("Trailer: ")
			first := true
			for k := range req.Trailer {
				if !first {
					_ = w.WriteByte(',')
				}
				first = false
				_, _ = w.WriteString(k)
			}
			_, _ = w.WriteString("\r\n")
		}
	}
	if req.Close && !httpguts.HeaderValuesContainsToken(req.Header["Connection"], "close") {
		_, _ = w.WriteString("Connection: close\r\n")
	}
	_, _ = w.WriteString("\r\n")
}

// writeBody sends the buffered head and the body; it runs on its own
// goroutine while the exchange reads the response. The head goes out
// before the body is read: a slow client must not hold it back (Envoy
// forwards headers at once), and chunks are flushed as they come
// (streaming uploads), as net/http does.
func (c *h1Conn) writeBody(req *http.Request, n int64) {
	err := c.bw.Flush()
	if err == nil {
		err = c.copyBody(req, n)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	closeBody(req)
	if errors.Is(err, errRequestBody) {
		// The request cannot be completed: do not leave the exchange
		// waiting for an answer to half a request.
		c.abort()
	}
	c.bodyDone(err)
}

func (c *h1Conn) copyBody(req *http.Request, n int64) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf, w := *bp, c.bw
	var sent int64
	for {
		m, rerr := req.Body.Read(buf)
		if m > 0 {
			if n >= 0 && sent+int64(m) > n {
				return fmt.Errorf("%w: http: ContentLength=%d with longer Body", errRequestBody, n)
			}
			sent += int64(m)
			if n < 0 {
				var hb [16]byte
				_, _ = w.Write(strconv.AppendInt(hb[:0], int64(m), 16))
				_, _ = w.WriteString("\r\n")
			}
			if _, err := w.Write(buf[:m]); err != nil {
				return err
			}
			if n < 0 {
				_, _ = w.WriteString("\r\n")
				if err := w.Flush(); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %v", errRequestBody, rerr)
		}
	}
	if n >= 0 && sent != n {
		return fmt.Errorf("%w: http: ContentLength=%d with Body length %d", errRequestBody, n, sent)
	}
	if n < 0 {
		_, _ = w.WriteString("0\r\n")
		for k, vs := range req.Trailer {
			for _, v := range vs {
				if !validValue(v) {
					return fmt.Errorf("%w: invalid trailer value for %q", errRequestBody, k)
				}
				_, _ = w.WriteString(k)
				_, _ = w.WriteString(": ")
				_, _ = w.WriteString(textproto.TrimString(v))
				_, _ = w.WriteString("\r\n")
			}
		}
		_, _ = w.WriteString("\r\n")
	}
	return nil
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

// sendsZeroLength is net/http's shouldSendContentLength for empty bodies:
// servers expect a length on these methods.
func sendsZeroLength(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

func itoa64(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// bufPool recycles request body copy buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
