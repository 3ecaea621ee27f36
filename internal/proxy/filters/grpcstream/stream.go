// Package grpcstream is Envoy's envoy_grpc client for filters: a gRPC call
// over a cluster of the current config, through filters.Upstreams, so it
// uses the cluster's balancing, HTTP/2 settings, TLS (per endpoint) and
// unix socket endpoints, and follows config updates like any route does.
// ext_proc uses its bidirectional streams; ext_authz can use the same for
// its unary Check.
//
// It speaks the gRPC wire protocol over one HTTP/2 request: messages are
// length-prefixed protobufs in the request and response bodies, and the
// status arrives in the trailers (or in the headers of a trailers-only
// answer). The request body is written by the HTTP/2 transport while the
// response is read, so a stream is full duplex.
package grpcstream

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// MaxMessage bounds one received message (gRPC's default receive limit).
const MaxMessage = 4 << 20

// Stream is one gRPC call. Send may be called from one goroutine and Recv
// from another; Close ends the call from anywhere.
type Stream struct {
	up        filters.Upstreams
	cluster   string
	req       *http.Request
	body      *sendQueue
	cancel    context.CancelFunc
	startOnce sync.Once
	started   chan struct{}
	rd        *bufio.Reader

	mu   sync.Mutex
	resp *http.Response
	err  error // the call's failure, once known
}

// Open prepares a call of method (/package.Service/Method) on cluster with
// the given :authority. Nothing is sent until the first Send is followed by
// Recv or Start; ctx bounds the whole call.
func Open(ctx context.Context, up filters.Upstreams, cluster, authority, method string) *Stream {
	ctx, cancel := context.WithCancel(ctx)
	body := newSendQueue()
	req := (&http.Request{
		Method:     http.MethodPost,
		URL:        &url.URL{Scheme: "http", Host: authority, Path: method},
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header: http.Header{
			"Content-Type": {"application/grpc"},
			"Te":           {"trailers"},
			"User-Agent":   {"portico-envoy-grpc"},
		},
		Body:          body,
		ContentLength: -1,
		Host:          authority,
	}).WithContext(ctx)
	return &Stream{up: up, cluster: cluster, req: req, body: body, cancel: cancel, started: make(chan struct{})}
}

// SetMetadata adds initial metadata (request headers) to the call; call
// it before the first Recv or Start.
func (s *Stream) SetMetadata(h http.Header) {
	for k, vs := range h {
		for _, v := range vs {
			s.req.Header.Add(k, v)
		}
	}
}

// Start sends the request and waits for the response headers in the
// background, for calls that only send (observability mode).
func (s *Stream) Start() { go s.start() }

func (s *Stream) start() {
	s.startOnce.Do(func() {
		defer close(s.started)
		resp, err := s.up.RoundTrip(s.cluster, s.req)
		if err != nil {
			if ctxErr := s.req.Context().Err(); ctxErr != nil {
				s.setErr(status.FromContextError(ctxErr).Err())
			} else {
				s.setErr(status.Error(codes.Unavailable, err.Error()))
			}
			return
		}
		s.mu.Lock()
		s.resp = resp
		s.mu.Unlock()
		if err := headerStatus(resp); err != nil {
			s.setErr(err)
			return
		}
		s.rd = bufio.NewReaderSize(resp.Body, 16<<10)
	})
	<-s.started
}

// headerStatus checks the response head: a non-200 answer or a
// trailers-only answer carrying an error ends the call.
func headerStatus(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return status.Errorf(httpCode(resp.StatusCode), "HTTP status %d from the gRPC server", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); len(ct) < 16 || ct[:16] != "application/grpc" {
		return status.Errorf(codes.Internal, "response content-type %q is not application/grpc", ct)
	}
	if v := resp.Header.Get("Grpc-Status"); v != "" {
		return trailerStatus(resp.Header)
	}
	return nil
}

// httpCode is gRPC's mapping of HTTP statuses from a non-gRPC answer.
func httpCode(code int) codes.Code {
	switch code {
	case http.StatusBadRequest:
		return codes.Internal
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.Unimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}

// trailerStatus is the call's end status; io.EOF for OK.
func trailerStatus(h http.Header) error {
	v := h.Get("Grpc-Status")
	if v == "" {
		return status.Error(codes.Internal, "server closed the stream without a grpc-status")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return status.Errorf(codes.Internal, "malformed grpc-status %q", v)
	}
	if codes.Code(n) == codes.OK {
		return io.EOF
	}
	msg, _ := url.PathUnescape(h.Get("Grpc-Message"))
	return status.Error(codes.Code(n), msg)
}

// Send queues one message; it does not wait for the server.
func (s *Stream) Send(m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	frame := make([]byte, 5+len(b))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(b)))
	copy(frame[5:], b)
	if !s.body.push(frame) {
		if err := s.getErr(); err != nil {
			return err
		}
		return status.Error(codes.Canceled, "stream closed")
	}
	return nil
}

func (s *Stream) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *Stream) getErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// CloseSend half-closes the call: the server reads end of stream.
func (s *Stream) CloseSend() { s.body.closeWrite() }

// Recv reads the next message into m. At the end of the call it returns
// io.EOF (status OK) or the call's status error; a malformed message is
// an Internal error.
func (s *Stream) Recv(m proto.Message) error {
	s.start()
	if err := s.getErr(); err != nil {
		return err
	}
	var hdr [5]byte
	if _, err := io.ReadFull(s.rd, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			s.setErr(trailerStatus(s.resp.Trailer))
			return s.getErr()
		}
		return s.fail(err)
	}
	if hdr[0] != 0 {
		return s.failWith(status.Error(codes.Internal, "compressed messages are not supported"))
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxMessage {
		return s.failWith(status.Errorf(codes.ResourceExhausted, "message of %d bytes is larger than %d", n, MaxMessage))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rd, b); err != nil {
		return s.fail(err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return s.failWith(status.Errorf(codes.Internal, "malformed message: %v", err))
	}
	return nil
}

func (s *Stream) fail(err error) error {
	if ctxErr := s.req.Context().Err(); ctxErr != nil {
		return s.failWith(status.FromContextError(ctxErr).Err())
	}
	return s.failWith(status.Error(codes.Unavailable, err.Error()))
}

func (s *Stream) failWith(err error) error {
	s.setErr(err)
	s.Close()
	return s.getErr()
}

// Close ends the call (a reset if it is still open) and frees it.
func (s *Stream) Close() {
	s.cancel()
	s.body.closeWrite()
	s.mu.Lock()
	resp := s.resp
	s.mu.Unlock()
	if resp != nil {
		_ = resp.Body.Close()
	}
}

// Code is the gRPC code of an error of this package (Unknown for others).
func Code(err error) codes.Code {
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}

// Describe renders an error as Envoy's details do: <code>{<message>}.
func Describe(err error) string {
	st, _ := status.FromError(err)
	return fmt.Sprintf("%d{%s}", st.Code(), st.Message())
}
