package grpcstream

import (
	"io"
	"sync"
)

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
