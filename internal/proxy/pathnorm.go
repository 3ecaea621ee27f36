package proxy

import "strings"

// Path normalisation as Envoy's HCM does it before routing (normalize_path,
// merge_slashes, path_with_escaped_slashes_action), on the path as sent:
// the route matcher and the upstream request both see the result.
//
// normalize_path is Envoy's PathUtil::canonicalPath, which is Chromium's
// URL path canonicalizer: percent-encoded unreserved characters are
// decoded (so %2e is a dot and "%2e%2e" a parent segment), "." and ".."
// segments are removed (RFC 3986 5.2.4, never above the root), a
// backslash is a slash, bytes a URL path may not hold are percent-encoded,
// other escapes are kept as they are (%2F stays, case and all), and an
// escaped NUL makes the path invalid. merge_slashes then collapses runs of
// slashes. pathnorm_test.go runs Envoy's own test cases.

// pathChar classifies a byte for the canonicalizer, as Chromium's
// kPathCharLookup does.
type pathChar uint8

const (
	pathPass     pathChar = iota // kept as is, escaped or not
	pathUnescape                 // unreserved: kept raw, decoded when escaped
	pathEscape                   // percent-encoded in the output
	pathInvalid                  // NUL: the path is refused
	pathSpecial                  // '.', '%' and '\\': handled on their own
)

var pathChars = func() (t [256]pathChar) {
	for c := 0; c < 256; c++ {
		switch {
		case c == 0:
			t[c] = pathInvalid
		case c < 0x20 || c >= 0x7f:
			t[c] = pathEscape
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = pathUnescape
		}
	}
	for _, c := range "-_~" {
		t[c] = pathUnescape
	}
	for _, c := range " \"#<>?^`{|}" {
		t[c] = pathEscape
	}
	for _, c := range ".%\\" {
		t[c] = pathSpecial
	}
	return t
}()

// pathIsCanonical reports whether p needs none of the HCM's path
// transformations: the common case, checked in one pass without
// allocating.
func pathIsCanonical(p string, merge bool) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch pathChars[c] {
		case pathPass, pathUnescape:
			if c == '/' && merge && i+1 < len(p) && p[i+1] == '/' {
				return false
			}
		case pathSpecial:
			// A dot matters only where a segment starts.
			if c != '.' || i == 0 || p[i-1] == '/' {
				return false
			}
		default:
			return false
		}
	}
	return len(p) > 0 && p[0] == '/'
}

// canonicalPath is Envoy's normalize_path on a path without query. ok is
// false for a path Envoy refuses (an escaped NUL).
func canonicalPath(p string) (out string, ok bool) {
	b := make([]byte, 0, len(p)+8)
	if p == "" || p[0] != '/' && p[0] != '\\' {
		b = append(b, '/')
	}
	ok = true
	lastBadPercent := -1 << 31 // output index of a '%' that began no valid escape
	for i := 0; i < len(p); i++ {
		c := p[i]
		kind := pathChars[c]
		if kind == pathPass || kind == pathUnescape {
			b = append(b, c)
			continue
		}
		if n := dotAt(p, i); n > 0 {
			if b[len(b)-1] != '/' {
				b = append(b, '.') // part of a name
				i += n - 1
				continue
			}
			consumed, up, isDir := afterDot(p, i+n)
			switch {
			case !isDir:
				b = append(b, '.')
				i += n - 1
			case up:
				b = backUpToSlash(b)
				i += n + consumed - 1
			default:
				i += n + consumed - 1
			}
			continue
		}
		switch {
		case c == '\\':
			b = append(b, '/')
		case c == '%':
			v, valid := decodeEscape(p, i)
			if !valid {
				lastBadPercent = len(b)
				b = append(b, '%')
				continue
			}
			i += 2
			switch pathChars[v] {
			case pathUnescape:
				b = append(b, v)
				if lastBadPercent >= len(b)-3 {
					b = fixNestedEscape(p, i+1, lastBadPercent, b)
				}
			default:
				// Kept as sent, hex case included: a server may care.
				b = append(b, '%', p[i-1], p[i])
				if pathChars[v] == pathInvalid {
					ok = false
				}
			}
		case kind == pathInvalid:
			b = appendEscaped(b, c)
			ok = false
		default:
			b = appendEscaped(b, c)
		}
	}
	return string(b), ok
}

// dotAt is the length of a dot at p[i], literal (1) or "%2e" (3), else 0.
func dotAt(p string, i int) int {
	switch {
	case p[i] == '.':
		return 1
	case p[i] == '%' && i+3 <= len(p) && p[i+1] == '2' && (p[i+2] == 'e' || p[i+2] == 'E'):
		return 3
	}
	return 0
}

func isURLSlash(c byte) bool { return c == '/' || c == '\\' }

// afterDot classifies what follows a dot that starts a segment: a
// directory of its own ("." or ".."), with how many more input bytes that
// takes, and whether it goes up.
func afterDot(p string, j int) (consumed int, up, isDir bool) {
	if j == len(p) {
		return 0, false, true
	}
	if isURLSlash(p[j]) {
		return 1, false, true
	}
	if n := dotAt(p, j); n > 0 {
		k := j + n
		if k == len(p) {
			return n, true, true
		}
		if isURLSlash(p[k]) {
			return n + 1, true, true
		}
	}
	return 0, false, false
}

// backUpToSlash drops the last segment of b, which ends with a slash,
// never going above the leading one.
func backUpToSlash(b []byte) []byte {
	i := len(b) - 1
	if i == 0 {
		return b
	}
	i--
	for i > 0 && b[i] != '/' {
		i--
	}
	return b[:i+1]
}

func decodeEscape(p string, i int) (byte, bool) {
	if i+3 > len(p) {
		return 0, false
	}
	hi, ok1 := unhex(p[i+1])
	lo, ok2 := unhex(p[i+2])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func appendEscaped(b []byte, c byte) []byte {
	const hex = "0123456789ABCDEF"
	return append(b, '%', hex[c>>4], hex[c&15])
}

// fixNestedEscape keeps a decoded byte from completing an escape with an
// earlier stray '%' ("%%30%30" must not become "%00" for the next reader
// to decode): that '%' is written "%25" instead, as Chromium does. next is
// the input index after the escape just decoded.
func fixNestedEscape(p string, next, pct int, b []byte) []byte {
	n := len(b)
	last := b[n-1]
	appendNext := pct == n-2
	if appendNext {
		if next == len(p) || p[next] >= 0x80 {
			return b
		}
		b = append(b, p[next])
	}
	if _, ok := decodeEscape(string(b[pct:]), 0); ok {
		if !appendNext {
			b = append(b, b[pct+1])
		}
		b[pct+1], b[pct+2] = '2', '5'
		return append(b, last)
	}
	return b[:n]
}

// mergeSlashes is Envoy's merge_slashes on a path without query: its
// non-empty segments joined by one slash, with the leading and trailing
// slash kept (so a path of slashes only is "//", as in Envoy).
func mergeSlashes(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	if p[0] == '/' {
		b.WriteByte('/')
	}
	first := true
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" {
			continue
		}
		if !first {
			b.WriteByte('/')
		}
		first = false
		b.WriteString(seg)
	}
	if p[len(p)-1] == '/' {
		b.WriteByte('/')
	}
	return b.String()
}

// unescapeSlashes decodes %2F and %5C (either case) in a path without
// query, as path_with_escaped_slashes_action's unescaping does; found says
// whether there was any.
func unescapeSlashes(p string) (out string, found bool) {
	if !strings.Contains(p, "%") {
		return p, false
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			switch p[i+1 : i+3] {
			case "2F", "2f":
				b.WriteByte('/')
				i += 2
				found = true
				continue
			case "5C", "5c":
				b.WriteByte('\\')
				i += 2
				found = true
				continue
			}
		}
		b.WriteByte(p[i])
	}
	if !found {
		return p, false
	}
	return b.String(), true
}
