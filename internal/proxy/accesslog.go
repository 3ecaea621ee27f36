package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	if n > 0 {
		c.timers.touch()
	}
	if err == io.EOF {
		c.timers.requestDone()
	}
	return n, err
}

// accessLogger writes Envoy's default format:
// [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
// %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
// %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
// "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
type accessLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (l *accessLogger) log(st *reqState) {
	if l == nil || l.w == nil {
		return
	}
	r := st.req
	path := r.Header.Get("X-Envoy-Original-Path")
	if path == "" {
		path = st.origURI
	}
	code := st.w.code
	if code == 0 {
		code = 0 // the downstream went away before any response
	}
	var b strings.Builder
	b.Grow(256)
	b.WriteByte('[')
	b.WriteString(st.start.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteString(`] "`)
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(path)
	b.WriteByte(' ')
	b.WriteString(r.Proto)
	b.WriteString(`" `)
	b.WriteString(strconv.Itoa(code))
	b.WriteByte(' ')
	b.WriteString(orDash(st.flags))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(st.body.n.Load(), 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(st.w.bytes, 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(time.Since(st.start).Milliseconds(), 10))
	b.WriteByte(' ')
	b.WriteString(orDash(st.w.Header().Get("X-Envoy-Upstream-Service-Time")))
	for _, v := range []string{r.Header.Get("X-Forwarded-For"), r.Header.Get("User-Agent"), r.Header.Get("X-Request-Id"), r.Host, st.upstreamHost} {
		b.WriteString(` "`)
		b.WriteString(orDash(v))
		b.WriteByte('"')
	}
	b.WriteByte('\n')
	l.mu.Lock()
	_, _ = io.WriteString(l.w, b.String())
	l.mu.Unlock()
}
