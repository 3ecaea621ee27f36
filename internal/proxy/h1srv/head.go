package h1srv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// maxHeadBytes bounds the request line and header block, as net/http's
// default: http.DefaultMaxHeaderBytes plus the 4 KiB of slack its read
// limit allows.
const maxHeadBytes = http.DefaultMaxHeaderBytes + 4096

// field is one header line of the request head, as offsets into it.
type field struct {
	k0, k1 int // key
	v0, v1 int // value, without surrounding blanks
	e1     int // end of the field's first line
	end    int // end of its last line (obs-fold continuations included)
	folded bool
}

// scanner finds and checks the lines of a request head as they arrive,
// so that a malformed line is answered as soon as it is complete, as
// net/http does, without waiting for the rest of the head. It keeps
// offsets only: strings are made once the whole head is in.
type scanner struct {
	pos     int // start of the first line not yet scanned
	reqLine bool
	method  int // end of the method; the URI follows a space
	uri     int // end of the URI; the protocol follows a space
	lineEnd int // end of the request line without its line break
	major   int
	minor   int
	target  *url.URL // parsed already unless simpleTarget
	fields  []field
	spaced  bool // a field name with a space (net/http: "invalid header name")
	// maxFields bounds the header lines (0: no bound); obs-fold
	// continuations are part of their line.
	maxFields int
}

func (s *scanner) reset() {
	*s = scanner{fields: s.fields[:0]}
}

// scan consumes the complete lines of buf from s.pos on. It returns the
// length of the head once the blank line ending it is in, 0 when more is
// needed, or the error a malformed line earns.
func (s *scanner) scan(buf []byte) (int, error) {
	for {
		nl := bytes.IndexByte(buf[s.pos:], '\n')
		if nl < 0 {
			return 0, nil
		}
		start, next := s.pos, s.pos+nl+1
		end := s.pos + nl
		// Like bufio.Reader.ReadLine: a line ends with LF or CRLF.
		if end > start && buf[end-1] == '\r' {
			end--
		}
		s.pos = next
		if !s.reqLine {
			if err := s.requestLine(buf, start, end); err != nil {
				return 0, err
			}
			continue
		}
		if end == start {
			return next, nil
		}
		if c := buf[start]; c == ' ' || c == '\t' {
			if len(s.fields) == 0 {
				// A continuation with nothing to continue.
				return 0, mimeError("malformed MIME header initial line: %q", buf[start:min(end, start+80)])
			}
			f := &s.fields[len(s.fields)-1]
			for i := start; i < end; i++ {
				if !validValueByte(buf[i]) {
					return 0, mimeError("malformed MIME header line: %q", buf[f.k0:end])
				}
			}
			f.folded, f.end = true, end
			continue
		}
		colon := bytes.IndexByte(buf[start:end], ':')
		if colon < 0 {
			return 0, mimeError("malformed MIME header: missing colon: %q", buf[start:end])
		}
		colon += start
		switch keyKindOf(buf[start:colon]) {
		case keyBad:
			return 0, mimeError("malformed MIME header line: %q", buf[start:end])
		case keySpaced:
			s.spaced = true
		}
		for i := colon + 1; i < end; i++ {
			if !validValueByte(buf[i]) {
				return 0, mimeError("malformed MIME header line: %q", buf[start:end])
			}
		}
		v0, v1 := colon+1, end
		for v0 < v1 && (buf[v0] == ' ' || buf[v0] == '\t') {
			v0++
		}
		for v1 > v0 && (buf[v1-1] == ' ' || buf[v1-1] == '\t') {
			v1--
		}
		if s.maxFields > 0 && len(s.fields) == s.maxFields {
			return 0, errTooLarge
		}
		s.fields = append(s.fields, field{k0: start, k1: colon, v0: v0, v1: v1, e1: end, end: end})
	}
}

// requestLine checks "METHOD SP request-target SP HTTP/x.y" as net/http
// does: split at the first two spaces, a token method, a well-formed
// version. The target is parsed once the head is complete.
func (s *scanner) requestLine(buf []byte, start, end int) error {
	line := buf[start:end]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return errMalformed
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return errMalformed
	}
	sp2 += sp1 + 1
	for _, c := range line[:sp1] {
		if !tokenByte[c] {
			return errMalformed
		}
	}
	if sp1 == 0 {
		return errMalformed
	}
	var ok bool
	if s.major, s.minor, ok = parseVersion(line[sp2+1:]); !ok {
		return errMalformed
	}
	// net/http parses the target before reading any header line.
	if target := line[sp1+1 : sp2]; !simpleTarget(target) {
		u, err := parseTarget(string(line[:sp1]), string(target))
		if err != nil {
			return errMalformed
		}
		s.target = u
	}
	s.reqLine = true
	s.method, s.uri, s.lineEnd = start+sp1, start+sp2, end
	return nil
}

// parseVersion is http.ParseHTTPVersion without the string.
func parseVersion(v []byte) (major, minor int, ok bool) {
	if len(v) != len("HTTP/X.Y") || string(v[:5]) != "HTTP/" || v[6] != '.' {
		return 0, 0, false
	}
	if v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, 0, false
	}
	return int(v[5] - '0'), int(v[7] - '0'), true
}

// keyKindOf is canonicalKey's classification, on bytes.
func keyKindOf(k []byte) keyKind {
	if len(k) == 0 {
		return keyBad
	}
	kind := keyOK
	for _, c := range k {
		if !tokenByte[c] {
			if c != ' ' {
				return keyBad
			}
			kind = keySpaced
		}
	}
	return kind
}

var (
	errMalformed = &protoError{code: http.StatusBadRequest}
	errTooLarge  = &protoError{code: http.StatusRequestHeaderFieldsTooLarge}
	// errNoRequest: the connection ended (or failed) before a request
	// began, or the failure is one net/http does not answer.
	errNoRequest = errors.New("h1srv: no request")
)

// mimeError is net/textproto's wording for a malformed header line, which
// a trailer's reader sees; a request head answers any of them with 400.
func mimeError(format string, line []byte) error {
	return &protoError{code: http.StatusBadRequest, mime: fmt.Sprintf(format, line)}
}

// protoError is a request net/http refuses with a status (and, for the
// server's own checks, a reason appended to the status text).
type protoError struct {
	code int
	text string
	mime string
	// body, for a Strict server, replaces the status text Envoy's codec
	// answers with (its timeouts have their own words, or none).
	body    string
	hasBody bool
}

// Strict servers' refusals that net/http does not make.
var (
	errLengthAndChunked = &protoError{code: http.StatusBadRequest}
	errTEOnHTTP10       = &protoError{code: http.StatusBadRequest}
	errBadVersion       = &protoError{code: http.StatusHTTPVersionNotSupported}
	// Envoy's request_headers_timeout answers 408 without a body,
	// its stream_idle_timeout with "stream timeout".
	errHeaderTimeout = &protoError{code: http.StatusRequestTimeout, hasBody: true}
	errStreamTimeout = &protoError{code: http.StatusRequestTimeout, body: "stream timeout", hasBody: true}
)

func (e *protoError) Error() string {
	if e.mime != "" {
		return e.mime
	}
	return http.StatusText(e.code) + ": " + e.text
}

// maxHead is how many bytes a head may take before it is refused.
func (c *conn) maxHead() int {
	if n := c.lim.MaxHeaderBytes; n > 0 {
		return n
	}
	return maxHeadBytes
}

// readHead reads a request head into c.scan. It returns the head's bytes:
// either a view of the bufio.Reader's buffer, valid until the caller
// discards them (discard is true), or a copy when the head outgrew the
// buffer. The head is refused as soon as it exceeds the limits, so an
// unfinished head never holds more than they allow.
func (c *conn) readHead() (head []byte, discard bool, err error) {
	s := &c.scan
	s.reset()
	s.maxFields = c.lim.MaxHeaders
	limit := c.maxHead()
	br := c.br
	var big []byte
	for {
		if big == nil {
			n := br.Buffered()
			if n == 0 {
				if _, err := br.Peek(1); err != nil {
					return nil, false, c.headReadError(err, false)
				}
				n = br.Buffered()
			}
			view, _ := br.Peek(n)
			end, err := s.scan(view)
			if err != nil {
				return nil, false, err
			}
			if end > limit || end == 0 && n > limit {
				return nil, false, errTooLarge
			}
			if end > 0 {
				return view[:end], true, nil
			}
			if n < br.Size() {
				if _, err := br.Peek(n + 1); err != nil {
					return nil, false, c.headReadError(err, true)
				}
				continue
			}
			// The head does not fit the buffer: go on in a copy, a line
			// at a time so that nothing after the head is consumed.
			big = append(make([]byte, 0, min(2*n, limit)), view...)
			br.Discard(n)
		}
		line, err := br.ReadSlice('\n')
		if len(big)+len(line) > limit {
			return nil, false, errTooLarge
		}
		big = appendBounded(big, line, limit)
		if err != nil && err != bufio.ErrBufferFull {
			return nil, false, c.headReadError(err, true)
		}
		end, serr := s.scan(big)
		if serr != nil {
			return nil, false, serr
		}
		if end > 0 {
			return big[:end], false, nil
		}
	}
}

// appendBounded appends line to b, growing b by doubling but never past
// limit bytes of capacity (append's growth could double a 60 KiB head's
// buffer to 128 KiB).
func appendBounded(b, line []byte, limit int) []byte {
	if need := len(b) + len(line); need > cap(b) {
		nb := make([]byte, len(b), min(max(2*cap(b), need), limit))
		copy(nb, b)
		b = nb
	}
	return append(b, line...)
}

// headReadError is what a failed read while waiting for a head earns:
// net/http answers 400 to a head cut short by EOF, and nothing to a
// connection that closes between requests, times out or fails. A Strict
// server answers 408 when a head it has begun to read times out under
// its head deadline, as Envoy's timers do.
func (c *conn) headReadError(err error, partial bool) error {
	if err == io.EOF && (partial || c.br.Buffered() > 0) {
		return errMalformed
	}
	if c.srv.Strict && c.headTimeout != nil && (partial || c.br.Buffered() > 0) {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return c.headTimeout
		}
	}
	return errNoRequest
}
