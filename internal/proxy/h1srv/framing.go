package h1srv

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Header sets appendHeaders leaves out.
const (
	excludeFraming = 1 << iota // Content-Length, Transfer-Encoding
	excludeConnection
	excludeContentType
)

// snapshot serializes the status line and the handler's headers at
// WriteHeader, as net/http's clone of them there: later changes to the map
// do not reach the head. Connection, Content-Length and Transfer-Encoding
// are kept aside, since whether they are sent is decided at commit.
func (w *response) snapshot() {
	c := w.c
	h := c.hdr
	if w.contentLength == -1 {
		// Invalid (logged by WriteHeader): not sent.
		delete(h, "Content-Length")
	}
	w.snapConn, w.hasConn = h["Connection"]
	w.snapCL = h["Content-Length"]
	w.snapTE = h["Transfer-Encoding"]
	_, w.hasDate = h["Date"]
	w.upgrade = get(h, "Upgrade") != ""
	c.declared = c.declared[:0]
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			w.trailers = true
		}
	}
	for _, v := range h["Trailer"] {
		w.trailers = true
		forEachElement(v, c.declareTrailer)
	}
	exclude := excludeFraming | excludeConnection
	if w.status == http.StatusNotModified {
		exclude |= excludeContentType
	}
	c.head = appendStatusLine(c.head[:0], w.atLeast11, w.status)
	c.head = c.appendHeaders(c.head, h, exclude)
}

func (c *conn) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if httpguts.ValidTrailerHeader(k) {
		c.declared = append(c.declared, k)
	}
}

// commit decides the framing and connection handling of the response as
// net/http's chunkWriter.writeHeader does, and writes the head into the
// connection's bufio.Writer. n is the number of body bytes written so far
// (all of them when the handler has returned).
func (w *response) commit(n int) {
	w.committed = true
	c := w.c
	keepAlives := !c.srv.shuttingDown()
	allowed := bodyAllowedForStatus(w.status)
	te := first(w.snapTE)
	hasTE := te != ""
	var delConn, delCL, delTE bool
	var setConn, setTE string
	autoCL := int64(-1)

	// A handler done before bufferBeforeChunking gets a Content-Length,
	// which also keeps HTTP/1.0 keep-alive connections open. Not for HEAD
	// without body bytes: 0 might not be the length of the GET.
	if w.handlerDone.Load() && !w.trailers && !hasTE && allowed && w.snapCL == nil && (!w.isHEAD || n > 0) {
		w.contentLength = int64(n)
		autoCL = int64(n)
	}
	if w.wants10KeepAlive && keepAlives && first(w.snapCL) != "" && first(w.snapConn) == "keep-alive" {
		w.closeAfterReply = false
	}
	hasCL := w.contentLength != -1
	if w.wants10KeepAlive && (w.isHEAD || hasCL || !allowed) {
		if !w.hasConn {
			setConn = "keep-alive"
		}
	} else if !w.atLeast11 || w.wantsClose {
		w.closeAfterReply = true
	}
	if first(w.snapConn) == "close" || !keepAlives {
		w.closeAfterReply = true
	}
	b := &w.x.body
	if b.expect && !b.eof.Load() {
		// 100-continue never sent, or the body not read to its end: the
		// next bytes may be body or request; do not guess. (Not b.state:
		// a read blocked on the client holds its lock.)
		w.closeAfterReply = true
	}
	// Read the rest of the request body before answering: clients that
	// send all of it before reading could deadlock otherwise.
	if w.x.req.ContentLength != 0 && !w.closeAfterReply && !w.fullDuplex && !b.expect {
		if w.discardRequestBody() {
			w.requestTooLarge()
			delConn, setConn = true, "close"
		}
	}
	if !allowed {
		delCL, delTE = true, true
	}
	if hasCL && hasTE && te != "identity" {
		c.srv.logf("http: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", te, w.contentLength)
		delCL, hasCL = true, false
	}
	switch {
	case w.isHEAD || !allowed || w.status == http.StatusNoContent, hasCL:
		delTE = true
	case w.atLeast11:
		if hasTE && te == "identity" {
			// Close-delimited, as Server-Sent Events recommends.
			w.closeAfterReply, delTE = true, true
		} else {
			w.chunking, setTE = true, "chunked"
			if hasTE && te == "chunked" {
				delTE = true
			}
		}
	default:
		// HTTP/1.0 without a length: the close ends the body.
		w.closeAfterReply, delTE = true, true
	}
	if w.chunking {
		delCL = true
	}
	switchingProtocols := w.status == http.StatusSwitchingProtocols && w.upgrade &&
		httpguts.HeaderValuesContainsToken(w.snapConn, "Upgrade")
	if w.closeAfterReply && (!keepAlives || !hasToken(first(w.snapConn), "close")) && !switchingProtocols {
		delConn = true
		if w.atLeast11 {
			setConn = "close"
		}
	}

	hb := c.head // status line and headers from snapshot; the rest follows
	if !delConn {
		for _, v := range w.snapConn {
			hb = appendField(hb, "Connection", v)
		}
	}
	if !delCL {
		for _, v := range w.snapCL {
			hb = appendField(hb, "Content-Length", v)
		}
	}
	if !delTE {
		for _, v := range w.snapTE {
			hb = appendField(hb, "Transfer-Encoding", v)
		}
	}
	if !w.hasDate {
		hb = append(hb, "Date: "...)
		hb = appendDate(hb)
		hb = append(hb, "\r\n"...)
	}
	if autoCL >= 0 {
		hb = append(hb, "Content-Length: "...)
		hb = strconv.AppendInt(hb, autoCL, 10)
		hb = append(hb, "\r\n"...)
	}
	if setConn != "" {
		hb = appendField(hb, "Connection", setConn)
	}
	if setTE != "" {
		hb = appendField(hb, "Transfer-Encoding", setTE)
	}
	hb = append(hb, "\r\n"...)
	c.head = hb
	c.bw.Write(hb)
}

// discardRequestBody reads what the handler left of the request body, up
// to maxPostHandlerReadBytes, and reports whether more was left than that.
func (w *response) discardRequestBody() (tooBig bool) {
	b := &w.x.body
	if b.x == nil {
		return false // no body: NoBody (an HTTP/2 upgrade's -1 length)
	}
	closed, sawEOF, unread := b.state()
	switch {
	case closed:
		if !sawEOF {
			w.closeAfterReply = true // closed by the handler with an error
		}
		return false
	case unread >= maxPostHandlerReadBytes:
		return true
	}
	_, err := io.CopyN(io.Discard, b, maxPostHandlerReadBytes+1)
	switch err {
	case nil:
		return true
	case http.ErrBodyReadAfterClose:
	case io.EOF:
		if b.Close() != nil {
			w.closeAfterReply = true
		}
	default:
		// Whatever remains on the wire must not be read as a request.
		w.closeAfterReply = true
	}
	return false
}

func first(v []string) string {
	if len(v) > 0 {
		return v[0]
	}
	return ""
}

func appendStatusLine(b []byte, atLeast11 bool, code int) []byte {
	if atLeast11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	if text := http.StatusText(code); text != "" {
		b = append(b, ' ')
		b = append(b, text...)
	} else {
		b = append(b, " status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// appendHeaders writes h as http.Header.Write does: keys sorted, invalid
// names dropped, values trimmed with CR and LF made spaces.
func (c *conn) appendHeaders(b []byte, h http.Header, exclude int) []byte {
	keys := c.keys[:0]
	for k := range h {
		switch k {
		case "Content-Length", "Transfer-Encoding":
			if exclude&excludeFraming != 0 {
				continue
			}
		case "Connection":
			if exclude&excludeConnection != 0 {
				continue
			}
		case "Content-Type":
			if exclude&excludeContentType != 0 {
				continue
			}
		}
		if isToken(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			b = appendField(b, k, v)
		}
	}
	clear(keys)
	c.keys = keys[:0]
	return b
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	v = trimOWS(v)
	for {
		i := strings.IndexAny(v, "\r\n")
		if i < 0 {
			break
		}
		b = append(b, v[:i]...)
		b = append(b, ' ')
		v = v[i+1:]
	}
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// appendTrailers writes the trailer section of a chunked response: values
// of the declared Trailer names and of "Trailer:"-prefixed keys, as
// net/http's finalTrailers.
func (c *conn) appendTrailers(b []byte, w *response) []byte {
	var t http.Header
	for k, vv := range c.hdr {
		if kk, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = http.Header{}
			}
			t[kk] = vv
		}
	}
	for _, k := range c.declared {
		for _, v := range c.hdr[k] {
			if t == nil {
				t = http.Header{}
			}
			t.Add(k, v)
		}
	}
	if t == nil {
		return b
	}
	return c.appendHeaders(b, t, 0)
}

// The Date header changes once a second: format it then, not per response.
type dateLine struct {
	sec int64
	b   []byte
}

var dateCache atomic.Pointer[dateLine]

func appendDate(b []byte) []byte {
	now := time.Now()
	d := dateCache.Load()
	if d == nil || d.sec != now.Unix() {
		d = &dateLine{sec: now.Unix(), b: now.UTC().AppendFormat(make([]byte, 0, len(http.TimeFormat)), http.TimeFormat)}
		dateCache.Store(d)
	}
	return append(b, d.b...)
}
