package route

import "testing"

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{
		"www.example.com": "www.example.com", "www.example.com:8080": "www.example.com",
		"[::1]:80": "::1", "[::1]": "[::1]", "::1": "::1", "": "", "a:": "a",
	} {
		if got := StripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = StripPort("www.example.com") }); n != 0 {
		t.Errorf("a host without a port cost %v allocations", n)
	}
}
