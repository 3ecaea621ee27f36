package hcm

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/proxy/h1srv"
	"github.com/portico-gw/portico/internal/proxy/route"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

// bufPool recycles body copy buffers; a fresh 32 KiB per response was most
// of the proxy's allocation.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyResponse streams the upstream response downstream, flushing as it
// goes when the length is unknown (gRPC, server-sent events), and copies
// trailers.
func (st *reqState) copyResponse(w http.ResponseWriter, resp *http.Response, wc *route.WeightedCluster, attempt int, start time.Time, websocket bool) {
	defer resp.Body.Close()
	hdr := w.Header()
	for k, vs := range resp.Header {
		hdr[k] = vs
	}
	if !websocket || resp.StatusCode != http.StatusSwitchingProtocols {
		for _, k := range hopHeaders {
			delete(hdr, k)
		}
	}
	st.responseOps(hdr, wc)
	if st.vh.AttemptCountInResponse {
		hdr.Set("X-Envoy-Attempt-Count", strconv.Itoa(attempt))
	}
	if !st.lr.cfg.suppressEnvoy {
		st.setHeader(hdr, "X-Envoy-Upstream-Service-Time", strconv.FormatInt(time.Since(start).Milliseconds(), 10))
	}
	st.serverHeader(hdr)
	if _, ok := hdr["Content-Type"]; !ok {
		// Envoy passes a response without a Content-Type through as it
		// is; net/http, which serves TLS and HTTP/2 downstreams, would
		// sniff one unless the key is present with no value.
		hdr["Content-Type"] = nil
	}
	if websocket && resp.StatusCode == http.StatusSwitchingProtocols {
		st.tunnel(w, resp)
		return
	}
	w.WriteHeader(resp.StatusCode)
	stream := resp.ContentLength < 0
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				st.info.ResponseFlags = "DC"
				return
			}
			if stream {
				_ = http.NewResponseController(w).Flush()
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// The upstream reset mid-body: Envoy resets the downstream
			// stream too, which net/http does when the handler panics
			// with ErrAbortHandler.
			st.info.ResponseFlags = "UPE"
			panic(http.ErrAbortHandler)
		}
	}
	for k, vs := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
}

// respWriter records what the access log and local replies need, and passes
// Flush/Hijack through (streaming, gRPC, websockets).
type respWriter struct {
	http.ResponseWriter
	info    *streaminfo.StreamInfo // its ResponseCode and BytesSent
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
	w.info.ResponseCode = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.info.BytesSent += int64(n)
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
	info   *streaminfo.StreamInfo // its BytesReceived
	timers *streamTimers
	// badFraming: the client broke the body's framing (h1srv's
	// IsFramingError), which the router answers with 400.
	badFraming atomic.Bool
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.info.BytesReceived.Add(int64(n))
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
