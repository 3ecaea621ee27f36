package h1srv

import (
	"net/http"
	"strings"
)

// tchar (RFC 9110 5.6.2): the bytes of a header field name or a method.
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValueByte is net/textproto's field-value check: VCHAR, SP, HTAB
// and obs-text.
func validValueByte(c byte) bool { return c >= 0x20 && c != 0x7f || c == '\t' }

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

// keyKind classifies a header field name the way net/textproto does.
type keyKind uint8

const (
	keyOK     keyKind = iota
	keySpaced         // has a space: textproto keeps it, uncanonicalized; net/http's server then rejects it
	keyBad            // empty or with a byte that is neither tchar nor space
)

// commonKeys interns canonical keys, as net/textproto does, so that a
// lower-case "content-type" does not cost a string per request. Canonical
// keys need no table: they are substrings of the request head.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Request-Headers", "Access-Control-Request-Method", "Authorization",
		"Cache-Control", "Connection", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Type", "Cookie", "Date", "Dnt", "Etag", "Expect", "Forwarded", "From", "Grpc-Timeout",
		"Host", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Keep-Alive", "Origin", "Pragma", "Priority", "Proxy-Authorization", "Proxy-Connection", "Range",
		"Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest",
		"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Websocket-Extensions",
		"Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Version", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Via",
		"X-Envoy-Expected-Rq-Timeout-Ms", "X-Envoy-Original-Path", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
		"X-Requested-With",
	} {
		m[k] = k
	}
	return m
}()

// CanonicalKey is k in net/textproto's canonical form, k itself (no
// allocation) when it already is, interned when it is a common header;
// ok is false when k is not a valid header name. The proxy's upstream
// client parses response heads with it.
func CanonicalKey(k string) (key string, ok bool) {
	key, kind := canonicalKey(k)
	return key, kind == keyOK
}

// canonicalKey returns k in canonical form (net/textproto's
// CanonicalMIMEHeaderKey rules). k is a substring of the request head: an
// already canonical key is returned as is, without allocating.
func canonicalKey(k string) (string, keyKind) {
	if k == "" {
		return "", keyBad
	}
	upper, canonical := true, true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !tokenByte[c] {
			if c == ' ' {
				// Checked for a byte that is not even a space first:
				// that makes the line malformed whatever else it has.
				for j := i + 1; j < len(k); j++ {
					if !tokenByte[k[j]] && k[j] != ' ' {
						return "", keyBad
					}
				}
				return k, keySpaced
			}
			return "", keyBad
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if canonical {
		return k, keyOK
	}
	var small [64]byte
	var b []byte
	if len(k) <= len(small) {
		b = small[:len(k)]
	} else {
		b = make([]byte, len(k))
	}
	upper = true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if v, ok := commonKeys[string(b)]; ok {
		return v, keyOK
	}
	return string(b), keyOK
}

// hasToken reports whether the comma-separated list v holds token
// (lower case), case-insensitively, as net/http's unexported hasToken:
// a match needs a space or comma, or the ends of v, on both sides.
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isTokenBoundary(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// get is http.Header.Get for a canonical key, without canonicalizing.
func get(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// trimOWS is net/textproto's TrimString: ASCII space, tab, CR and LF off
// both ends.
func trimOWS(s string) string {
	for len(s) > 0 && isASCIISpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isASCIISpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isASCIISpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// forEachElement splits v on commas as net/http's foreachHeaderElement
// does and calls fn for each non-empty, trimmed element.
func forEachElement(v string, fn func(string)) {
	for f := range strings.SplitSeq(v, ",") {
		if f = trimOWS(f); f != "" {
			fn(f)
		}
	}
}
