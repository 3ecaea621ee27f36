package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/proxy/h1srv"
)

// respWriter records what the access log and local replies need, and passes
// Flush/Hijack through (streaming, gRPC, websockets).
type respWriter struct {
	http.ResponseWriter
	code    int
	bytes   int64
	written bool
	timers  *streamTimers
}

func (w *respWriter) WriteHeader(code int) {
	if w.written {
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.written = true
	}
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	w.timers.touch()
	return n, err
}

func (w *respWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts request body bytes for %BYTES_RECEIVED%.
type countingBody struct {
	io.ReadCloser
	n      atomic.Int64
	timers *streamTimers
	// badFraming: the client broke the body's framing (h1srv's
	// IsFramingError), which the router answers with 400.
	badFraming atomic.Bool
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	if n > 0 {
		c.timers.touch()
	}
	if err == io.EOF {
		c.timers.requestDone()
	} else if err != nil && h1srv.IsFramingError(err) {
		c.badFraming.Store(true)
	}
	return n, err
}

// accessLogger writes access log lines. Logs configured in the HCM are
// honoured (format, filter, path; /dev/stdout is Options.AccessLog). An HCM
// without access_log gets Envoy's default format on Options.AccessLog:
// Envoy would log nothing, but a standalone gateway without a log is hard
// to operate, so Portico keeps one (io.Discard turns it off).
type accessLogger struct {
	mu    sync.Mutex
	w     io.Writer
	files map[string]io.Writer
	def   *logSpec
	sinks []*fileSink // buffered file logs, to flush
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAccessLogger(w io.Writer) *accessLogger {
	def := &logSpec{}
	_ = def.compileFormat(nil)
	l := &accessLogger{def: def, files: map[string]io.Writer{}}
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
	l     *accessLogger
	f     io.Writer
	buf   []byte
	timer *time.Timer
	armed bool
}

func (l *accessLogger) buffered(w io.Writer) io.Writer {
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

// flush writes out every buffered line.
func (l *accessLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.sinks {
		s.flushLocked()
	}
}

// sink returns the writer for a log path, opening files on first use.
func (l *accessLogger) sink(path string) io.Writer {
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

func (l *accessLogger) log(st *reqState, specs []*logSpec) {
	if l == nil || l.w == nil {
		return
	}
	if len(specs) == 0 {
		specs = []*logSpec{l.def}
	}
	var ri *replyInfo
	for _, spec := range specs {
		if spec.filter != nil {
			if ri == nil {
				ri = &replyInfo{code: st.w.code, details: st.details, flags: st.flags, req: st.req, start: st.start}
			}
			if !spec.filter(ri) {
				continue
			}
		}
		bp := logBufs.Get().(*[]byte)
		*bp = spec.render((*bp)[:0], st)
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
