package filters

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
)

// gRPC over a cluster: gRPC is HTTP/2 with length-prefixed messages and
// the status in trailers, so the cluster's own HTTP/2 transport (its
// hosts, balancing, TLS and pooled connections, unix sockets included)
// carries it, one stream per call, balanced per call as Envoy's gRPC
// client does. Compression is not offered.

// MaxGRPCMessage bounds a message received (gRPC's default limit).
const MaxGRPCMessage = 4 << 20

// GRPCError is a call that ended with a status other than OK.
type GRPCError struct {
	Code    int // the grpc-status
	Message string
}

func (e *GRPCError) Error() string { return fmt.Sprintf("gRPC status %d: %s", e.Code, e.Message) }

// GRPCCall makes a unary call: method is "/package.Service/Method",
// authority the :authority to send (Envoy Gateway's envoy_grpc authority,
// by default the cluster's name), md extra metadata. timeout, when not
// zero, bounds the call and is sent as grpc-timeout.
func GRPCCall(ctx context.Context, ups Upstreams, cluster, authority, method string, md http.Header,
	timeout time.Duration, in, out proto.Message) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	msg, err := proto.Marshal(in)
	if err != nil {
		return err
	}
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	req, err := grpcRequest(ctx, authority, method, md, timeout, bytes.NewReader(frame))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(frame))
	resp, err := ups.RoundTrip(cluster, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := grpcResponse(resp); err != nil {
		return err
	}
	got, err := readGRPCMessage(resp.Body, out)
	if err != nil && err != io.EOF {
		return err
	}
	// The status comes after the body (trailers), or instead of it.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxGRPCMessage)); err != nil {
		return err
	}
	if err := grpcStatus(resp); err != nil {
		return err
	}
	if !got {
		return errors.New("gRPC: the server sent no message")
	}
	return nil
}

func grpcRequest(ctx context.Context, authority, method string, md http.Header, timeout time.Duration, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+authority+method, body)
	if err != nil {
		return nil, err
	}
	// A cluster that follows the downstream's protocol uses HTTP/2 for it.
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
	for k, vs := range md {
		req.Header[k] = vs
	}
	req.Host = authority
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	if timeout > 0 {
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(timeout.Milliseconds(), 10)+"m")
	}
	return req, nil
}

// grpcResponse checks the response head: HTTP 200 and, for a
// trailers-only answer, its status.
func grpcResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gRPC: the server answered HTTP %d", resp.StatusCode)
	}
	if resp.Header.Get("Grpc-Status") != "" {
		return grpcStatus(resp)
	}
	return nil
}

// grpcStatus reads grpc-status from the trailers, or from the headers of
// a trailers-only answer; nil for OK.
func grpcStatus(resp *http.Response) error {
	for _, h := range []http.Header{resp.Trailer, resp.Header} {
		if c := h.Get("Grpc-Status"); c != "" {
			if c == "0" {
				return nil
			}
			code, err := strconv.Atoi(c)
			if err != nil {
				return fmt.Errorf("gRPC: malformed grpc-status %q", c)
			}
			m, _ := url.PathUnescape(h.Get("Grpc-Message"))
			return &GRPCError{Code: code, Message: m}
		}
	}
	return errors.New("gRPC: the server sent no status")
}

// readGRPCMessage reads one length-prefixed message into m; false with
// io.EOF at the end of the body.
func readGRPCMessage(r io.Reader, m proto.Message) (bool, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return false, errors.New("gRPC: a truncated message")
		}
		return false, err
	}
	if hdr[0] != 0 {
		return false, errors.New("gRPC: a compressed message (compression was not offered)")
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxGRPCMessage {
		return false, fmt.Errorf("gRPC: a message of %d bytes, over %d", n, MaxGRPCMessage)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return false, errors.New("gRPC: a truncated message")
	}
	return true, proto.Unmarshal(buf, m)
}

// GRPCStream is a bidirectional gRPC stream on a cluster (ext_proc's
// Process, say): Send and Recv may run on two goroutines at once.
type GRPCStream struct {
	pw     *io.PipeWriter
	cancel context.CancelFunc
	ready  chan struct{} // closed once the response head came (or failed)
	resp   *http.Response
	err    error
	sendMu sync.Mutex
}

// OpenGRPCStream starts a stream; the call goes out as messages are sent.
// Close ends it.
func OpenGRPCStream(ctx context.Context, ups Upstreams, cluster, authority, method string, md http.Header) (*GRPCStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	req, err := grpcRequest(ctx, authority, method, md, 0, pr)
	if err != nil {
		cancel()
		return nil, err
	}
	req.ContentLength = -1
	s := &GRPCStream{pw: pw, cancel: cancel, ready: make(chan struct{})}
	go func() {
		// The transport returns once the server sent its response head,
		// which a server may do only after the first message.
		s.resp, s.err = ups.RoundTrip(cluster, req)
		if s.err == nil {
			s.err = grpcResponse(s.resp)
		}
		if s.err != nil {
			_ = pr.CloseWithError(s.err)
		}
		close(s.ready)
	}()
	return s, nil
}

// Send sends one message.
func (s *GRPCStream) Send(m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	frame := make([]byte, 5+len(b))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(b)))
	copy(frame[5:], b)
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if _, err := s.pw.Write(frame); err != nil {
		return s.failure(err)
	}
	return nil
}

// CloseSend says no more messages follow (half-close).
func (s *GRPCStream) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.pw.Close()
}

// Recv receives the next message into m; io.EOF once the server ended the
// stream with OK, a *GRPCError when it ended with another status.
func (s *GRPCStream) Recv(m proto.Message) error {
	<-s.ready
	if s.err != nil {
		return s.err
	}
	got, err := readGRPCMessage(s.resp.Body, m)
	if got || err != io.EOF {
		return err
	}
	if err := grpcStatus(s.resp); err != nil {
		return err
	}
	return io.EOF
}

// Close ends the stream, whatever state it is in.
func (s *GRPCStream) Close() {
	s.cancel()
	_ = s.pw.CloseWithError(context.Canceled)
	<-s.ready
	if s.resp != nil {
		_ = s.resp.Body.Close()
	}
}

// failure is the stream's own error when a send fails because the call
// ended, else err.
func (s *GRPCStream) failure(err error) error {
	select {
	case <-s.ready:
		if s.err != nil {
			return s.err
		}
	default:
	}
	return err
}
