package h1client

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"

	"golang.org/x/net/http/httpguts"

	"github.com/portico-gw/portico/internal/proxy/h1srv"
)

// readResponse reads a response head from c. The usual upstream answer
// (HTTP/1.1, a final status, a Content-Length, nothing unusual) is parsed
// straight from the read buffer by parseSimpleHead; anything else goes to
// net/http's ReadResponse, which re-reads the same bytes, so every unusual
// case keeps net/http's exact behaviour. http.ReadResponse cost about a
// dozen allocations per proxied request on bench/proxy.sh (its textproto
// reader, header map, line copies and body wrapper); the simple path makes
// five.
//
// A simple response's body is left to the caller: its Body is http.NoBody
// and bodyLen its length, so that the caller can make the body reader part
// of its own allocation. bodyLen is 0 otherwise.
func (c *h1Conn) readResponse(req *http.Request) (resp *http.Response, bodyLen int64, err error) {
	head, err := bufferedHead(c.br)
	if err != nil {
		return nil, 0, err
	}
	if head != nil {
		if resp, ok := parseSimpleHead(head, req); ok {
			_, _ = c.br.Discard(len(head))
			return resp, resp.ContentLength, nil
		}
	}
	resp, err = http.ReadResponse(c.br, req)
	return resp, 0, err
}

// bufferedHead waits until br holds a whole response head (up to the blank
// line) and returns it without consuming it; nil when the head does not
// fit in br's buffer, which leaves it to net/http. A read error before the
// head is complete is returned as net/http's ReadResponse would return it.
func bufferedHead(br *bufio.Reader) ([]byte, error) {
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := headEnd(buf); i >= 0 {
			return buf[:i], nil
		}
		if br.Buffered() >= br.Size() {
			return nil, nil
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			if err == io.EOF && br.Buffered() > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// headEnd is the length of the head in buf including its blank line, or
// -1. Bare LF line ends count too, so that such a head is found (and then
// left to net/http) rather than waited on for ever.
func headEnd(buf []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(buf) && buf[i] == '\n':
			return i + 1
		case i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n':
			return i + 2
		}
	}
}

// parseSimpleHead parses head when it is the common case and reports
// whether it was; the result equals http.ReadResponse's for the same bytes
// (FuzzParseSimpleHead checks it). The body is left to the caller.
// It is one function on purpose: a single pass over the head, in the
// order the bytes come, whose every bail-out is a case net/http decides.
func parseSimpleHead(head []byte, req *http.Request) (*http.Response, bool) {
	// A HEAD response has a length but no body: net/http's.
	if req.Method == http.MethodHead || !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		return nil, false
	}
	// One string holds every value and canonical key of the head.
	s := string(head)
	eol := lineEnd(s, 0)
	if eol < 0 {
		return nil, false
	}
	line := s[:eol]
	if len(line) < 12 || line[:7] != "HTTP/1." || line[7] != '1' || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return nil, false
	}
	code := 0
	for _, d := range []byte(line[9:12]) {
		if d < '0' || d > '9' {
			return nil, false
		}
		code = code*10 + int(d-'0')
	}
	// 1xx, 204 and 304 have their own body rules: net/http's.
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil, false
	}
	status := line[9:]
	n := bytes.Count(head, []byte("\n")) - 2 // header lines
	hdr := make(http.Header, n)
	vals := make([]string, n)
	cl := int64(-1)
	for i := eol + 2; i < len(s)-2; {
		end := lineEnd(s, i)
		if end < 0 {
			return nil, false
		}
		kv := s[i:end]
		i = end + 2
		colon := -1
		for j := 0; j < len(kv); j++ {
			if kv[j] == ':' {
				colon = j
				break
			}
		}
		if colon <= 0 {
			return nil, false // also a continuation line: net/http's
		}
		key, ok := h1srv.CanonicalKey(kv[:colon])
		if !ok {
			return nil, false
		}
		v := kv[colon+1:]
		for j := 0; j < len(v); j++ {
			if c := v[j]; (c < 0x20 && c != '\t') || c == 0x7f {
				return nil, false
			}
		}
		v = textproto.TrimString(v)
		switch key {
		case "Transfer-Encoding", "Trailer", "Pragma":
			// Framing and trailers, and net/http's Pragma: no-cache
			// rewrite: its path.
			return nil, false
		case "Content-Length":
			if cl >= 0 {
				return nil, false // repeated: net/http's rules
			}
			if cl = parseLength(v); cl < 0 {
				return nil, false
			}
		case "Connection":
			if httpguts.HeaderValuesContainsToken([]string{v}, "close") {
				return nil, false // net/http drops the header: its path
			}
		}
		if vv := hdr[key]; vv != nil {
			hdr[key] = append(vv, v)
		} else {
			vals[0] = v
			hdr[key], vals = vals[:1:1], vals[1:]
		}
	}
	if cl < 0 {
		return nil, false
	}
	resp := &http.Response{Status: status, StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, ContentLength: cl, Body: http.NoBody, Request: req}
	return resp, true
}

// lineEnd is the index of the "\r\n" ending the line that starts at i, or
// -1 when a line ends in a bare LF (left to net/http).
func lineEnd(s string, i int) int {
	for j := i; j < len(s); j++ {
		if s[j] == '\n' {
			if j == i || s[j-1] != '\r' {
				return -1
			}
			return j - 1
		}
	}
	return -1
}

// parseLength is a Content-Length value, -1 when it is not a plain
// decimal net/http would accept the same way.
func parseLength(v string) int64 {
	if v == "" || len(v) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return -1
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n
}

// lengthBody is a response body of known length read from the connection:
// io.EOF comes with the last bytes, io.ErrUnexpectedEOF when the upstream
// closes early, as net/http's body does.
type lengthBody struct {
	br *bufio.Reader
	n  int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.br.Read(p)
	b.n -= int64(k)
	switch {
	case b.n == 0:
		return k, io.EOF
	case err == io.EOF:
		return k, io.ErrUnexpectedEOF
	}
	return k, err
}

func (b *lengthBody) Close() error { return nil }
