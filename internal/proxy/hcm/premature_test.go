package hcm

import (
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/stats"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

type closeCount int

func (c *closeCount) Close() error { *c++; return nil }

// Envoy's check: nothing before 500 streams have ended, then a close
// (once) as soon as at least half were premature.
func TestPrematureResetClose(t *testing.T) {
	for _, tc := range []struct {
		name              string
		normal, premature int
		closes            int
	}{
		{"499 premature: below the count", 0, 499, 0},
		{"500 premature", 0, 500, 1},
		{"250 of 500 premature: half", 250, 250, 1},
		{"249 of 500 premature", 251, 249, 0},
		{"1000 premature: closed once", 0, 1000, 1},
		{"normal traffic", 5000, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cc closeCount
			var tooMany stats.Counter
			cs := &ConnStreams{conn: &cc}
			for i := 0; i < tc.normal; i++ {
				cs.streamClosed(false, &tooMany)
			}
			for i := 0; i < tc.premature; i++ {
				cs.streamClosed(true, &tooMany)
			}
			if int(cc) != tc.closes || int(tooMany.Value()) != tc.closes {
				t.Errorf("closed %d times, counted %d, want %d", cc, tooMany.Value(), tc.closes)
			}
		})
	}
}

// A stream is premature when it lived at most 1 s in whole seconds and
// no response status was sent.
func TestPrematureReset(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		lived time.Duration
		code  int
		want  bool
	}{
		{time.Millisecond, 0, true},
		{1999 * time.Millisecond, 0, true},
		{2 * time.Second, 0, false},
		{time.Millisecond, 200, false},
		{time.Millisecond, 503, false},
	} {
		info := &streaminfo.StreamInfo{Start: start, ResponseCode: tc.code}
		if got := prematureReset(info, start.Add(tc.lived)); got != tc.want {
			t.Errorf("lived %v, status %d: premature %v, want %v", tc.lived, tc.code, got, tc.want)
		}
	}
}
