package accesslog

import (
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// Streams the client reset before any response (HTTP/2 rapid reset,
// CVE-2023-44487) cost the attacker one frame each; logging every one
// would turn that into a log write each. Envoy logs them all; Portico logs
// them through a token bucket per proxy and, for what it drops, writes one
// summary line per log and interval. Every other stream is logged as
// before.
const (
	resetLogBurst        = 100 // lines logged before the bucket runs dry
	resetLogRate         = 100 // lines per second once it has
	resetSummaryInterval = time.Second
)

// resetLimit is the token bucket and the drop counts; Logger.mu guards it.
type resetLimit struct {
	tokens  float64
	last    time.Time
	dropped map[*Spec]uint64
	order   []*Spec // specs with drops, in order of their first drop
	timer   *time.Timer
	armed   bool
}

// take spends a token if there is one, refilling first.
func (b *resetLimit) take(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = resetLogBurst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(resetLogBurst, b.tokens+d.Seconds()*resetLogRate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *resetLimit) drop(spec *Spec) {
	if b.dropped == nil {
		b.dropped = map[*Spec]uint64{}
	}
	if b.dropped[spec] == 0 {
		b.order = append(b.order, spec)
	}
	b.dropped[spec]++
}

// LogLimited is Log for a stream the client reset prematurely: it is
// logged while the proxy's bucket has tokens and otherwise counted for
// the next summary line.
func (l *Logger) LogLimited(info *streaminfo.StreamInfo, specs []*Spec) {
	if l == nil || l.w == nil {
		return
	}
	if len(specs) == 0 {
		specs = l.defaults
	}
	l.mu.Lock()
	ok := l.resets.take(l.now())
	if !ok {
		for _, spec := range specs {
			if spec.filter == nil || spec.filter(info) {
				l.resets.drop(spec)
			}
		}
		l.armSummaryLocked()
	}
	l.mu.Unlock()
	if ok {
		l.Log(info, specs)
	}
}

func (l *Logger) armSummaryLocked() {
	b := &l.resets
	if b.armed || len(b.order) == 0 {
		return
	}
	b.armed = true
	if b.timer == nil {
		b.timer = time.AfterFunc(resetSummaryInterval, l.timedSummary)
	} else {
		b.timer.Reset(resetSummaryInterval)
	}
}

func (l *Logger) timedSummary() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.summaryLocked()
}

// summaryLocked writes, to each log that dropped lines, one line saying
// how many: in the log's own shape (a JSON object for JSON logs), so
// that what parses the log still does.
func (l *Logger) summaryLocked() {
	b := &l.resets
	b.armed = false
	ts := l.now().UTC().Format("2006-01-02T15:04:05.000Z")
	for _, spec := range b.order {
		n := strconv.FormatUint(b.dropped[spec], 10)
		var line string
		if spec.json != nil {
			line = `{"portico_access_log_dropped":` + n + `,"reason":"premature_reset","time":"` + ts + "\"}\n"
		} else {
			line = "[" + ts + "] portico: " + n + " access log entries of prematurely reset streams dropped\n"
		}
		_, _ = l.sink(spec.path).Write([]byte(line))
	}
	clear(b.dropped)
	b.order = b.order[:0]
}
