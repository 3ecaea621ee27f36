package streaminfo

import (
	"strings"
	"testing"
)

// PseudoName must agree with the strings.ToLower switch it replaced.
func TestPseudoNameMatchesToLower(t *testing.T) {
	for _, n := range []string{":PATH", ":path", ":Method", ":AUTHORITY", "Host", "HOST", "host", "x-request-id",
		"", ":pat", "hoſt", "\u212aey", ":authorİty", "X-ENVOY-ORIGINAL-PATH"} {
		want := strings.ToLower(n)
		switch want {
		case ":authority", "host", ":path", ":method":
		default:
			want = ""
		}
		got := PseudoName(n)
		switch got {
		case ":authority", "host", ":path", ":method":
		default:
			got = ""
		}
		if got != want {
			t.Errorf("PseudoName(%q) = %q, ToLower gives %q", n, got, want)
		}
	}
}
