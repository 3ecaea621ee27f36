package h1srv

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// exchange is one request and its response in a single allocation: the
// Request, its URL, context, body reader and the ResponseWriter.
type exchange struct {
	req  http.Request
	url  url.URL
	ctx  reqCtx
	body body
	w    response
}

var errUnsupportedTE = &protoError{code: http.StatusNotImplemented}

func statusErr(code int, text string) error { return &protoError{code: code, text: text} }

// pathSafe are the bytes a path can hold for url.ParseRequestURI to
// return it unchanged in URL.Path with an empty RawPath: anything else
// (escapes, bytes Go would escape) takes url.ParseRequestURI itself.
var pathSafe = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// simpleTarget reports whether an origin-form target can skip
// url.ParseRequestURI (an allocation per request): a path of pathSafe
// bytes and a query without control bytes.
func simpleTarget(t []byte) bool {
	if len(t) == 0 || t[0] != '/' {
		return false
	}
	i := 0
	for ; i < len(t) && t[i] != '?'; i++ {
		if !pathSafe[t[i]] {
			return false
		}
	}
	for ; i < len(t); i++ {
		if c := t[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// setSimpleURL fills u as url.ParseRequestURI would for a simpleTarget.
func setSimpleURL(u *url.URL, t string) {
	q := strings.IndexByte(t, '?')
	switch {
	case q < 0:
		u.Path = t
	case q == len(t)-1:
		u.Path, u.ForceQuery = t[:q], true
	default:
		u.Path, u.RawQuery = t[:q], t[q+1:]
	}
}

// parseTarget is net/http's reading of a request target: the authority
// alone for CONNECT, url.ParseRequestURI otherwise.
func parseTarget(method, target string) (*url.URL, error) {
	justAuthority := method == "CONNECT" && !strings.HasPrefix(target, "/")
	if justAuthority {
		target = "http://" + target
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, err
	}
	if justAuthority {
		u.Scheme = ""
	}
	return u, nil
}

// newExchange builds the request from a complete head (c.scan holds its
// offsets), with net/http's checks in net/http's order, so that a request
// it refuses gets the same status and text.
func (c *conn) newExchange(head string) (*exchange, error) {
	s := &c.scan
	x := &exchange{}
	x.w.c, x.w.x, x.ctx.c = c, x, c
	r := &x.req
	r.Method = head[:s.method]
	r.RequestURI = head[s.method+1 : s.uri]
	r.Proto = head[s.uri+1 : s.lineEnd]
	r.ProtoMajor, r.ProtoMinor = s.major, s.minor
	if s.target != nil {
		r.URL = s.target
	} else {
		setSimpleURL(&x.url, r.RequestURI)
		r.URL = &x.url
	}

	h := make(http.Header, len(s.fields))
	vals := make([]string, len(s.fields))
	for i := range s.fields {
		f := &s.fields[i]
		k, _ := canonicalKey(head[f.k0:f.k1])
		v := head[f.v0:f.v1]
		if f.folded {
			v = foldedValue(head, f)
		}
		if vv, ok := h[k]; ok {
			h[k] = append(vv, v)
		} else {
			vals[i] = v
			h[k] = vals[i : i+1 : i+1]
		}
	}
	r.Header = h
	hosts, haveHost := h["Host"]
	if len(hosts) > 1 {
		return nil, errMalformed
	}
	r.Host = r.URL.Host
	if r.Host == "" && haveHost {
		r.Host = hosts[0]
	}
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	atLeast11 := r.ProtoMajor > 1 || r.ProtoMajor == 1 && r.ProtoMinor >= 1
	r.Close = shouldClose(r.ProtoMajor, r.ProtoMinor, h)
	if c.srv.Strict {
		if err := strictChecks(r); err != nil {
			return nil, err
		}
	}
	// net/http reads the framing of "HTTP/0.0" as HTTP/1.1's.
	if err := x.transfer(!atLeast11 && (r.ProtoMajor != 0 || r.ProtoMinor != 0)); err != nil {
		return nil, err
	}
	h2Upgrade := r.Method == "PRI" && len(h) == 0 && r.URL.Path == "*" && r.Proto == "HTTP/2.0"
	if h2Upgrade {
		r.ContentLength, r.Close = -1, true
	}

	// From here on, the server's checks (net/http's conn.readRequest).
	if r.ProtoMajor != 1 && !(h2Upgrade && r.ProtoMajor == 2 && r.ProtoMinor == 0) {
		return nil, statusErr(http.StatusHTTPVersionNotSupported, "unsupported protocol version")
	}
	if atLeast11 && !haveHost && !h2Upgrade && r.Method != "CONNECT" {
		return nil, statusErr(http.StatusBadRequest, "missing required Host header")
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return nil, statusErr(http.StatusBadRequest, "malformed Host header")
	}
	if s.spaced {
		return nil, statusErr(http.StatusBadRequest, "invalid header name")
	}
	delete(h, "Host")
	r.RemoteAddr = c.remoteAddr
	x.w.closeAfterReply = h2Upgrade
	return x, nil
}

// strictChecks are a Strict server's refusals (see Server.Strict), made
// before the framing is read: Envoy's codec checks the version and the
// framing headers as the head completes.
func strictChecks(r *http.Request) error {
	// Other majors are refused by the server's own check, after the
	// framing, as net/http does.
	if r.ProtoMajor == 1 && r.ProtoMinor > 1 {
		return errBadVersion
	}
	if _, te := r.Header["Transfer-Encoding"]; te {
		if r.ProtoMinor == 0 {
			return errTEOnHTTP10
		}
		if _, cl := r.Header["Content-Length"]; cl {
			// Smuggling: the two framings could be read differently by
			// the next hop (RFC 9112 6.3).
			return errLengthAndChunked
		}
	}
	return nil
}

// foldedValue joins an obs-fold value as net/textproto does: each line
// trimmed, joined by one space, leading blanks of the result dropped.
func foldedValue(head string, f *field) string {
	var b strings.Builder
	b.WriteString(head[f.v0:f.v1])
	lines := head[f.e1:f.end]
	_, lines, _ = strings.Cut(lines, "\n") // the first line's own break
	for l := range strings.SplitSeq(lines, "\n") {
		b.WriteByte(' ')
		b.WriteString(strings.Trim(strings.TrimSuffix(l, "\r"), " \t"))
	}
	return strings.TrimLeft(b.String(), " \t")
}

func shouldClose(major, minor int, h http.Header) bool {
	if major < 1 {
		return true
	}
	conv := h["Connection"]
	hasClose := httpguts.HeaderValuesContainsToken(conv, "close")
	if major == 1 && minor == 0 {
		return hasClose || !httpguts.HeaderValuesContainsToken(conv, "keep-alive")
	}
	return hasClose
}

// transfer is net/http's readTransfer for a request: Transfer-Encoding
// (chunked only, ignored before HTTP/1.1), Content-Length (duplicates must
// agree; chunked wins and drops it), declared trailers, and the body.
func (x *exchange) transfer(ignoreTE bool) error {
	r := &x.req
	h := r.Header
	chunked := false
	if raw, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		if !ignoreTE {
			if len(raw) != 1 || !strings.EqualFold(raw[0], "chunked") {
				return errUnsupportedTE
			}
			chunked = true
		}
	}
	cls := h["Content-Length"]
	if len(cls) > 1 {
		first := trimOWS(cls[0])
		for _, v := range cls[1:] {
			if trimOWS(v) != first {
				return errMalformed
			}
		}
		cls = []string{first}
		h["Content-Length"] = cls
	}
	var n int64
	if len(cls) > 0 {
		v := trimOWS(cls[0])
		u, err := strconv.ParseUint(v, 10, 63)
		if v == "" || err != nil {
			return errMalformed
		}
		n = int64(u)
	}
	switch {
	case chunked:
		delete(h, "Content-Length")
		n = -1
	case len(cls) == 0:
		n = 0
	}
	if chunked {
		if vv, ok := h["Trailer"]; ok {
			delete(h, "Trailer")
			var bad bool
			t := http.Header{}
			for _, v := range vv {
				forEachElement(v, func(k string) {
					k = http.CanonicalHeaderKey(k)
					switch k {
					case "Transfer-Encoding", "Trailer", "Content-Length":
						bad = true
					}
					t[k] = nil
				})
			}
			if bad {
				return errMalformed
			}
			if len(t) > 0 {
				r.Trailer = t
			}
		}
	}
	r.ContentLength = n
	switch {
	case chunked:
		r.TransferEncoding = []string{"chunked"}
		x.body.init(x, -1, r.Close)
		r.Body = &x.body
	case n > 0:
		x.body.init(x, n, r.Close)
		r.Body = &x.body
	default:
		r.Body = http.NoBody
	}
	return nil
}
