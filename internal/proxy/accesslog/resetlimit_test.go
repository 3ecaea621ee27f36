package accesslog

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// Prematurely reset streams are logged through the bucket (a burst, then
// resetLogRate a second) and the rest are counted in one summary line;
// other streams are never held back.
func TestResetLogLimit(t *testing.T) {
	var out strings.Builder
	l := NewLogger(&out)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	r := httptest.NewRequest("GET", "http://x/reset", nil)
	info := &streaminfo.StreamInfo{Request: r, Start: now}
	for i := 0; i < 3*resetLogBurst; i++ {
		l.LogLimited(info, nil)
	}
	now = now.Add(500 * time.Millisecond) // refills resetLogRate/2
	for i := 0; i < resetLogBurst; i++ {
		l.LogLimited(info, nil)
	}
	ok := httptest.NewRequest("GET", "http://x/ok", nil)
	for i := 0; i < 10; i++ {
		l.Log(&streaminfo.StreamInfo{Request: ok, Start: now}, nil)
	}
	l.Flush() // writes the pending summary
	got := out.String()
	if n, want := strings.Count(got, "/reset"), resetLogBurst+resetLogRate/2; n != want {
		t.Errorf("%d reset lines logged, want %d", n, want)
	}
	if n := strings.Count(got, "/ok"); n != 10 {
		t.Errorf("%d other lines logged, want 10", n)
	}
	dropped := 4*resetLogBurst - (resetLogBurst + resetLogRate/2)
	want := "portico: " + strconv.Itoa(dropped) + " access log entries of prematurely reset streams dropped\n"
	if strings.Count(got, "dropped") != 1 || !strings.HasSuffix(got, want) {
		t.Errorf("want one summary line %q, log ends %q", want, got[max(0, len(got)-200):])
	}
}

// A JSON log's summary is a JSON object, so every line of the log still
// parses; the summary goes to the log that dropped the lines.
func TestResetLogSummaryJSON(t *testing.T) {
	spec := egJSONSpec(t)
	var out strings.Builder
	l := NewLogger(&out)
	info := loggedRequest()
	info.ResponseCode = 0
	for i := 0; i < resetLogBurst+7; i++ {
		l.LogLimited(info, []*Spec{spec})
	}
	l.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != resetLogBurst+1 {
		t.Fatalf("%d lines, want %d and a summary", len(lines), resetLogBurst)
	}
	for i, line := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %d is not JSON: %q", i, line)
		}
	}
	var sum struct {
		Dropped int    `json:"portico_access_log_dropped"`
		Reason  string `json:"reason"`
	}
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &sum)
	if sum.Dropped != 7 || sum.Reason != "premature_reset" {
		t.Errorf("summary %q, want 7 dropped for premature_reset", lines[len(lines)-1])
	}
}
