package grpcweb

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// trailerFlag marks gRPC-Web's trailers frame.
const trailerFlag = 0x80

// maxNonGRPCBody is how much of a non-gRPC response body becomes its
// grpc-message (Envoy's MAX_BUFFERED_PLAINTEXT_LENGTH).
const maxNonGRPCBody = 16384

// webWriter turns the upstream's gRPC response into gRPC-Web's.
type webWriter struct {
	http.ResponseWriter
	text bool
	code int
	// nonGRPC: the response is not gRPC; its body is held to become
	// grpc-message and the status line waits for the end.
	nonGRPC bool
	held    []byte
	// partial holds the start of a frame not complete yet (text mode
	// encodes whole frames, as Envoy does).
	partial []byte
}

func (w *webWriter) WriteHeader(code int) {
	if w.code != 0 || code < 200 {
		return
	}
	w.code = code
	h := w.Header()
	w.nonGRPC = !isGRPCResponse(code, h)
	h.Del("Content-Length")
	if w.text {
		h.Set("Content-Type", ctGRPCWebTextProto)
	} else {
		h.Set("Content-Type", ctGRPCWebProto)
	}
	if !w.nonGRPC {
		w.ResponseWriter.WriteHeader(code)
	}
}

// isGRPCResponse is Envoy's test: a 200 with a gRPC (or proto gRPC-Web)
// Content-Type, or a trailers-only answer (grpc-status in the headers).
func isGRPCResponse(code int, h http.Header) bool {
	if h.Get("Grpc-Status") != "" {
		return true
	}
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	ct = strings.TrimSpace(ct)
	return code == http.StatusOK && (filters.IsGRPCContentType(ct) || strings.EqualFold(ct, ctGRPCWeb) || strings.EqualFold(ct, ctGRPCWebProto))
}

func (w *webWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.nonGRPC:
		if room := maxNonGRPCBody - len(w.held); room > 0 {
			w.held = append(w.held, b[:min(room, len(b))]...)
		}
		return len(b), nil
	case w.text:
		w.partial = append(w.partial, b...)
		if err := w.writeWholeFrames(); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// writeWholeFrames base64-encodes and writes every complete frame held.
func (w *webWriter) writeWholeFrames() error {
	n := 0
	for len(w.partial)-n >= 5 {
		size := 5 + int(binary.BigEndian.Uint32(w.partial[n+1:n+5]))
		if len(w.partial)-n < size {
			break
		}
		if _, err := w.ResponseWriter.Write(encodeBase64(w.partial[n : n+size])); err != nil {
			return err
		}
		n += size
	}
	w.partial = append(w.partial[:0], w.partial[n:]...)
	return nil
}

func (w *webWriter) Flush() {
	if !w.nonGRPC {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

func (w *webWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *webWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish runs once the response is complete: the router has put the
// upstream's trailers in the header map (http.TrailerPrefix keys).
func (w *webWriter) finish() {
	if w.code == 0 {
		return
	}
	h := w.Header()
	trailers := takeTrailers(h)
	if w.nonGRPC {
		h.Set("Grpc-Status", grpcStatusOf(w.code))
		h.Set("Grpc-Message", percentEncode(w.held))
		h.Set("Content-Length", "0")
		w.ResponseWriter.WriteHeader(w.code)
		return
	}
	if len(w.partial) > 0 {
		// A frame the upstream cut short: passed on as it is rather
		// than lost.
		_, _ = w.ResponseWriter.Write(encodeBase64(w.partial))
		w.partial = nil
	}
	if len(trailers) == 0 {
		return // trailers-only: the status is in the headers
	}
	frame := trailerFrame(trailers)
	if w.text {
		frame = encodeBase64(frame)
	}
	_, _ = w.ResponseWriter.Write(frame)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

type trailer struct{ name, value string }

// takeTrailers removes the response's trailers from the header map (they
// go in the body) and returns them, grpc-status and grpc-message first,
// then by name, so the frame is the same every time.
func takeTrailers(h http.Header) []trailer {
	var out []trailer
	for k, vs := range h {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok {
			continue
		}
		delete(h, k)
		for _, v := range vs {
			out = append(out, trailer{strings.ToLower(name), v})
		}
	}
	for _, k := range h.Values("Trailer") {
		for _, name := range strings.Split(k, ",") {
			name = http.CanonicalHeaderKey(strings.TrimSpace(name))
			if vs, ok := h[name]; ok && name != "" {
				delete(h, name)
				for _, v := range vs {
					out = append(out, trailer{strings.ToLower(name), v})
				}
			}
		}
	}
	h.Del("Trailer")
	rank := func(n string) int {
		switch n {
		case "grpc-status":
			return 0
		case "grpc-message":
			return 1
		}
		return 2
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := rank(out[i].name), rank(out[j].name); ri != rj {
			return ri < rj
		}
		return out[i].name < out[j].name
	})
	return out
}

// trailerFrame is gRPC-Web's trailers frame.
func trailerFrame(ts []trailer) []byte {
	var body []byte
	for _, t := range ts {
		body = append(append(append(append(body, t.name...), ':'), t.value...), "\r\n"...)
	}
	frame := make([]byte, 5, 5+len(body))
	frame[0] = trailerFlag
	binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
	return append(frame, body...)
}

func encodeBase64(b []byte) []byte {
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out
}

// percentEncode is Envoy's grpc-message encoding (PercentEncoding::encode):
// bytes below ' ', from '~' up, and '%' become %XX.
func percentEncode(b []byte) string {
	const hex = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		if c < ' ' || c >= '~' || c == '%' {
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
