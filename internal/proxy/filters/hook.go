package filters

import (
	"bufio"
	"net"
	"net/http"
)

// HookWriter lets a filter see and change the response before its status
// line goes out (Lua's envoy_on_response, ext_proc response headers, CORS).
// Install it with s.Writer = &HookWriter{...} before calling next. It keeps
// Flush, Hijack and Unwrap working for streaming and upgrades.
type HookWriter struct {
	http.ResponseWriter
	// OnHeader may edit h and returns the status to send.
	OnHeader func(code int, h http.Header) int
	wrote    bool
}

// WriteHeader runs the hook once, then writes.
func (w *HookWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.wrote = true
		if w.OnHeader != nil {
			code = w.OnHeader(code, w.Header())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implies a 200 like net/http.
func (w *HookWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes through.
func (w *HookWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack passes through (websocket upgrades).
func (w *HookWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap exposes the wrapped writer to http.ResponseController.
func (w *HookWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
