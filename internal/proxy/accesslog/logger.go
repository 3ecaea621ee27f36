package accesslog

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// Logger writes access log lines. Logs configured in the HCM are
// honoured (format, filter, path; /dev/stdout is Options.AccessLog). An HCM
// without access_log gets Envoy's default format on Options.AccessLog:
// Envoy would log nothing, but a standalone gateway without a log is hard
// to operate, so Portico keeps one (io.Discard turns it off).
type Logger struct {
	mu    sync.Mutex
	w     io.Writer
	files map[string]io.Writer
	// defaults is Envoy's default format, for HCMs without access_log
	// (a slice, so that logging it allocates nothing).
	defaults []*Spec
	sinks    []*fileSink // buffered file logs, to flush
	resets   resetLimit  // see LogLimited
	now      func() time.Time
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// NewLogger writes to w what goes to stdout; other sinks it opens itself.
func NewLogger(w io.Writer) *Logger {
	def := &Spec{}
	_ = def.compileFormat(nil)
	l := &Logger{defaults: []*Spec{def}, files: map[string]io.Writer{}, now: time.Now}
	l.w = l.buffered(w)
	return l
}

// Access logs to files are buffered, as Envoy buffers them (its
// --file-flush-interval-msec, 64 KiB min_flush_size): a write system call
// per request was a few percent of the proxy's CPU on bench/proxy.sh.
// Lines reach the file within logFlushInterval, and Proxy.Run flushes
// what is left when it returns. Other writers (tests' buffers) are
// written through.
const (
	logFlushInterval = time.Second
	logBufferSize    = 64 << 10
)

// fileSink is a buffered file log; l.mu guards it.
type fileSink struct {
	l     *Logger
	f     io.Writer
	buf   []byte
	timer *time.Timer
	armed bool
}

func (l *Logger) buffered(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); !ok {
		return w
	}
	s := &fileSink{l: l, f: w}
	l.sinks = append(l.sinks, s)
	return s
}

// Write is called with l.mu held.
func (s *fileSink) Write(p []byte) (int, error) {
	if len(s.buf)+len(p) > logBufferSize {
		s.flushLocked()
	}
	if len(p) >= logBufferSize {
		return s.f.Write(p)
	}
	s.buf = append(s.buf, p...)
	if !s.armed {
		s.armed = true
		if s.timer == nil {
			s.timer = time.AfterFunc(logFlushInterval, s.timedFlush)
		} else {
			s.timer.Reset(logFlushInterval)
		}
	}
	return len(p), nil
}

func (s *fileSink) timedFlush() {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.flushLocked()
}

func (s *fileSink) flushLocked() {
	if len(s.buf) > 0 {
		_, _ = s.f.Write(s.buf)
		s.buf = s.buf[:0]
	}
	s.armed = false
}

// Flush writes out every buffered line, and the summary of dropped ones.
func (l *Logger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.resets.armed {
		l.resets.timer.Stop()
		l.summaryLocked()
	}
	for _, s := range l.sinks {
		s.flushLocked()
	}
}

// sink returns the writer for a log path, opening files on first use.
func (l *Logger) sink(path string) io.Writer {
	switch path {
	case "", "/dev/stdout":
		return l.w
	case "/dev/stderr":
		path = "/dev/stderr"
	}
	if w, ok := l.files[path]; ok {
		return w
	}
	if path == "/dev/stderr" {
		w := l.buffered(os.Stderr)
		l.files[path] = w
		return w
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.files[path] = io.Discard
		return io.Discard
	}
	w := l.buffered(f)
	l.files[path] = w
	return w
}

// Log writes a finished stream's lines: one per spec whose filter admits
// it, or the default line when the HCM configured no access log.
func (l *Logger) Log(info *streaminfo.StreamInfo, specs []*Spec) {
	if l == nil || l.w == nil {
		return
	}
	if len(specs) == 0 {
		specs = l.defaults
	}
	for _, spec := range specs {
		if spec.filter != nil && !spec.filter(info) {
			continue
		}
		bp := logBufs.Get().(*[]byte)
		*bp = spec.render((*bp)[:0], info)
		l.mu.Lock()
		_, _ = l.sink(spec.path).Write(*bp)
		l.mu.Unlock()
		if cap(*bp) <= 64<<10 { // an outsized line is not worth keeping
			logBufs.Put(bp)
		}
	}
}

// logBufs recycles access log line buffers.
var logBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
