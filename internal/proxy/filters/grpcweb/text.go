package grpcweb

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
)

var errBase64Size = errors.New("grpc-web-text body is not a whole number of base64 quanta")

// decodeBase64Chunks decodes gRPC-Web text: padded base64, which a client
// that sends in pieces may pad at the end of each piece, so padding can
// appear at any 4-byte boundary.
func decodeBase64Chunks(b []byte) ([]byte, error) {
	out := make([]byte, 0, base64.StdEncoding.DecodedLen(len(b)))
	for len(b) > 0 {
		// The piece ends at the first quantum holding padding.
		end := len(b)
		if i := bytes.IndexByte(b, '='); i >= 0 {
			end = (i/4 + 1) * 4
			if end > len(b) {
				return nil, errBase64Size
			}
		}
		n := len(out)
		out = out[:n+base64.StdEncoding.DecodedLen(end)]
		m, err := base64.StdEncoding.Decode(out[n:], b[:end])
		if err != nil {
			return nil, err
		}
		out = out[:n+m]
		b = b[end:]
	}
	return out, nil
}

// textReader decodes a -text body as it streams (one longer than
// maxTextRequest): whole 4-byte quanta as they come.
type textReader struct {
	src     io.ReadCloser
	pending []byte // encoded bytes not yet a whole quantum
	out     []byte // decoded bytes not yet read
	err     error
}

func newTextReader(src io.ReadCloser) *textReader { return &textReader{src: src} }

func (t *textReader) Read(p []byte) (int, error) {
	for len(t.out) == 0 && t.err == nil {
		buf := make([]byte, 32<<10)
		n, err := t.src.Read(buf)
		t.pending = append(t.pending, buf[:n]...)
		whole := len(t.pending) / 4 * 4
		if whole > 0 {
			dec, derr := decodeBase64Chunks(t.pending[:whole])
			if derr != nil {
				t.err = derr
				break
			}
			t.out = append(t.out, dec...)
			t.pending = append(t.pending[:0], t.pending[whole:]...)
		}
		switch {
		case err == io.EOF && len(t.pending) > 0:
			t.err = errBase64Size
		case err != nil:
			t.err = err
		}
	}
	if len(t.out) > 0 {
		n := copy(p, t.out)
		t.out = t.out[n:]
		return n, nil
	}
	return 0, t.err
}

func (t *textReader) Close() error { return t.src.Close() }
