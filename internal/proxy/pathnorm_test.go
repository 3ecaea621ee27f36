package proxy

import (
	"strings"
	"testing"
)

// Envoy's path normalisation test cases, from envoyproxy/envoy
// test/common/http/path_utility_test.cc (PathUtilityTest and
// PathTransformerTest: NormalizeValidPaths, NormalizeCasePath,
// InvalidPaths, MergeSlashes, UnescapeSlashes), as input and expected
// output. Only the data is taken.
var envoyCanonicalCases = []struct{ in, out string }{
	{"/xyz", "/xyz"}, {"/x/y/z", "/x/y/z"},
	{"/a/b/../c", "/a/c"}, {"/a/b/./c", "/a/b/c"}, {"a/b/../c", "/a/c"}, {"/a/b/../../../../c", "/c"},
	{`/a/..\c`, "/c"}, {"/%c0%af", "/%c0%af"}, {"/%5c%25", "/%5c%25"}, {"/a/b/%2E%2E/c", "/a/c"},
	{"/a/b/%2E./c", "/a/c"}, {"/a/b/%2E/c", "/a/b/c"}, {"..", "/"}, {"/../a/b", "/a/b"}, {"/./a/b", "/a/b"},
	{"/A/B/C", "/A/B/C"}, {"/a/b/%2e%2e/c", "/a/c"}, {"/a/%2F%2f/c", "/a/%2F%2f/c"},
}

var envoyInvalidPaths = []string{"/xyz/.%00../abc", "/xyz/%00.%00./abc", "/xyz/AAAAA%%0000/abc"}

var envoyMergeCases = []struct{ in, out string }{
	{"", ""}, {"a//b/c", "a/b/c"}, {"/a//b/c/", "/a/b/c/"}, {"a//b/c/", "a/b/c/"}, {"/a", "/a"},
	{"//a/b/c", "/a/b/c"}, {"/a//b/c", "/a/b/c"}, {"/a/b/c//", "/a/b/c/"}, {"/a///b/c", "/a/b/c"},
	{"/a////b/c", "/a/b/c"},
}

var envoyUnescapeCases = []struct {
	in, out string
	found   bool
}{
	{"", "", false}, {"%2f%2F", "//", true}, {"/a%2Fb%2fc/", "/a/b/c/", true}, {"%2b", "%2b", false},
	{"/a/b/c", "/a/b/c", false}, {"%2", "%2", false}, {"%", "%", false}, {"/abc%2", "/abc%2", false},
	{"foo%", "foo%", false}, {"/a%2F", "/a/", true}, {"%2fa/", "/a/", true}, {"%%2fa/", "%/a/", true},
	{"%2%2fa/", "%2/a/", true}, {"%5c%5C", `\\`, true}, {"/a%5Cb%5cc/", `/a\b\c/`, true}, {"/a%5C", `/a\`, true},
	{"%5ca/", `\a/`, true}, {"/x/%2E%2e/z%2f%2Fabc%5C../def", `/x/%2E%2e/z//abc\../def`, true},
	{"%2fa%5Cb%2fc%5c", `/a\b/c\`, true},
}

func TestEnvoyPathCases(t *testing.T) {
	for _, c := range envoyCanonicalCases {
		if got, ok := canonicalPath(c.in); got != c.out || !ok {
			t.Errorf("canonicalPath(%q) = %q %v, Envoy %q", c.in, got, ok, c.out)
		}
	}
	for _, p := range envoyInvalidPaths {
		if got, ok := canonicalPath(p); ok {
			t.Errorf("canonicalPath(%q) = %q, Envoy refuses it", p, got)
		}
	}
	for _, c := range envoyMergeCases {
		if got := mergeSlashes(c.in); got != c.out {
			t.Errorf("mergeSlashes(%q) = %q, Envoy %q", c.in, got, c.out)
		}
	}
	for _, c := range envoyUnescapeCases {
		if got, found := unescapeSlashes(c.in); got != c.out || found != c.found {
			t.Errorf("unescapeSlashes(%q) = %q %v, Envoy %q %v", c.in, got, found, c.out, c.found)
		}
	}
}

// More of Chromium's canonicalizer, which Envoy's normalize_path is.
func TestCanonicalPath(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"/public/%2e%2e/admin", "/admin"},
		{"/public/%2E%2E%2Fadmin", "/public/..%2Fadmin"}, // %2F is no separator here
		{"/a/%41%7a%2D%5F%7E%30", "/a/Az-_~0"},           // unreserved escapes decoded
		{"/a/%21%24", "/a/%21%24"},                       // others kept
		{"/a b\"<>^`{|}", "/a%20b%22%3C%3E%5E%60%7B%7C%7D"},
		{"/caf\xc3\xa9", "/caf%C3%A9"},
		{"/a/.../b", "/a/.../b"}, {"/a/..b/c", "/a/..b/c"}, {"/a/b.", "/a/b."}, {"/a/.", "/a/"}, {"/a/..", "/"},
		{"/a/./", "/a/"}, {"/a%2e", "/a."}, {"/%2e%2E/x", "/x"}, {"/a/%2e%2", "/a/.%2"},
		{`\a\b`, "/a/b"}, {"", "/"}, {"/a%", "/a%"}, {"/a%zz", "/a%zz"},
		{"/%%30%30", "/%2500"}, // a decoded "00" cannot complete the stray '%'
		{"/%%300", "/%2500"},
	} {
		if got, ok := canonicalPath(c.in); got != c.out || !ok {
			t.Errorf("canonicalPath(%q) = %q %v, want %q", c.in, got, ok, c.out)
		}
		if pathIsCanonical(c.in, false) && c.in != c.out {
			t.Errorf("pathIsCanonical(%q) skips a change to %q", c.in, c.out)
		}
	}
}

// FuzzPathNormalisation: the fast check never skips a path the
// canonicalizer would change, and normalising is idempotent.
func FuzzPathNormalisation(f *testing.F) {
	for _, c := range envoyCanonicalCases {
		f.Add(c.in)
	}
	f.Add("/a//b/./c/%2e%2E/%2f%5C?q")
	f.Fuzz(func(t *testing.T, p string) {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		canon, ok := canonicalPath(p)
		merged := mergeSlashes(canon)
		if pathIsCanonical(p, true) && (canon != p || merged != p) {
			t.Fatalf("%q: fast check passes, canonical form %q, merged %q", p, canon, merged)
		}
		if !ok {
			return
		}
		if again, _ := canonicalPath(canon); again != canon {
			t.Fatalf("%q -> %q -> %q", p, canon, again)
		}
	})
}
