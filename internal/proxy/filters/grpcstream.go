package filters

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// GRPCStream is one gRPC call on a cluster, bidirectional (ext_proc's
// Process) or unary (GRPCCall). Send may be called from one goroutine and
// Recv from another; Close ends the call from anywhere. The request body
// is written by the HTTP/2 transport while the response is read, so a
// stream is full duplex.
type GRPCStream struct {
	up        Upstreams
	cluster   string
	req       *http.Request
	body      *sendQueue
	cancel    context.CancelFunc
	startOnce sync.Once
	started   chan struct{}

	mu   sync.Mutex
	resp *http.Response
	err  error // the call's failure, once known
}

// OpenGRPCStream prepares a call of method (/package.Service/Method) on
// cluster with the given :authority and initial metadata md. Nothing goes
// out until Recv or Start; Send only queues, so a filter never waits for
// the server's flow control. ctx bounds the whole call.
func OpenGRPCStream(ctx context.Context, ups Upstreams, cluster, authority, method string, md http.Header) *GRPCStream {
	ctx, cancel := context.WithCancel(ctx)
	body := newSendQueue()
	return &GRPCStream{up: ups, cluster: cluster, req: grpcRequest(ctx, authority, method, md, body), body: body,
		cancel: cancel, started: make(chan struct{})}
}

// Start sends the request and waits for the response head in the
// background, for calls that only send (ext_proc's observability mode).
func (s *GRPCStream) Start() { go s.start() }

func (s *GRPCStream) start() {
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
		if err := grpcHeaderStatus(resp); err != nil {
			s.setErr(err)
		}
	})
	<-s.started
}

// Send queues one message; it does not wait for the server.
func (s *GRPCStream) Send(m proto.Message) error {
	frame, err := grpcFrame(m)
	if err != nil {
		return err
	}
	if !s.body.push(frame) {
		if err := s.getErr(); err != nil {
			return err
		}
		return status.Error(codes.Canceled, "stream closed")
	}
	return nil
}

// CloseSend half-closes the call: the server reads the end of the stream.
func (s *GRPCStream) CloseSend() { s.body.closeWrite() }

// Recv reads the next message into m. At the end of the call it returns
// io.EOF (status OK) or the call's status error.
func (s *GRPCStream) Recv(m proto.Message) error {
	s.start()
	if err := s.getErr(); err != nil {
		return err
	}
	var hdr [5]byte
	if _, err := io.ReadFull(s.resp.Body, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			s.setErr(grpcTrailerStatus(s.resp.Trailer))
			return s.getErr()
		}
		return s.fail(err)
	}
	if hdr[0] != 0 {
		return s.failWith(status.Error(codes.Internal, "compressed messages are not supported"))
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxGRPCMessage {
		return s.failWith(status.Errorf(codes.ResourceExhausted, "message of %d bytes is larger than %d", n, MaxGRPCMessage))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.resp.Body, b); err != nil {
		return s.fail(err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return s.failWith(status.Errorf(codes.Internal, "malformed message: %v", err))
	}
	return nil
}

// Close ends the call (a reset if it is still open) and frees it.
func (s *GRPCStream) Close() {
	s.cancel()
	s.body.closeWrite()
	s.mu.Lock()
	resp := s.resp
	s.mu.Unlock()
	if resp != nil {
		_ = resp.Body.Close()
	}
}

func (s *GRPCStream) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *GRPCStream) getErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// fail ends the call on a read error: the context's end when it ended
// (a deadline, Close), else the connection's failure.
func (s *GRPCStream) fail(err error) error {
	if ctxErr := s.req.Context().Err(); ctxErr != nil {
		return s.failWith(status.FromContextError(ctxErr).Err())
	}
	return s.failWith(status.Error(codes.Unavailable, err.Error()))
}

func (s *GRPCStream) failWith(err error) error {
	s.setErr(err)
	s.Close()
	return s.getErr()
}

// sendQueue is the request body of a call: Send appends frames without
// waiting, and the HTTP/2 transport reads them as they come. Closing the
// write side ends the body (the client's half-close).
type sendQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	frames [][]byte
	cur    []byte
	closed bool
}

func newSendQueue() *sendQueue {
	q := &sendQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push appends a frame; false once the queue is closed.
func (q *sendQueue) push(b []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.frames = append(q.frames, b)
	q.cond.Signal()
	return true
}

func (q *sendQueue) closeWrite() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Read blocks until a frame is queued or the queue is closed and drained.
func (q *sendQueue) Read(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.cur) == 0 {
		if len(q.frames) > 0 {
			q.cur, q.frames[0] = q.frames[0], nil
			q.frames = q.frames[1:]
			continue
		}
		if q.closed {
			return 0, io.EOF
		}
		q.cond.Wait()
	}
	n := copy(p, q.cur)
	q.cur = q.cur[n:]
	return n, nil
}

// Close is the transport's: it stops reading (the call ended).
func (q *sendQueue) Close() error {
	q.closeWrite()
	return nil
}
