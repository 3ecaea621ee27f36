package abi

import (
	"context"
	"errors"

	"github.com/tetratelabs/wazero/api"
)

// Stream is one HTTP stream's context in a VM. Its callbacks run on the
// VM it was created on; an error from any of them means the VM failed
// and the stream cannot go on (fail it, or pass it with failOpen).
type Stream struct {
	vm   *VM
	id   uint32
	host StreamHost
	// resumed receives proxy_continue_stream calls made for this stream
	// from a later callback (an http call response, a tick, a queue).
	resumed chan struct{}
	// continued is set by proxy_continue_stream during the callback in
	// progress, closed by proxy_close_stream.
	continued, closed bool
	done              bool
	// replied is set once the plugin sent a local response.
	replied bool
	// props are the properties the plugin set (proxy_set_property).
	props map[string][]byte
}

// NewStream creates a stream context (proxy_on_context_create) on one of
// the plugin's VMs.
func (p *Plugin) NewStream(ctx context.Context, host StreamHost) (*Stream, error) {
	vm, err := p.pick()
	if err != nil {
		return nil, err
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	s := &Stream{vm: vm, id: vm.nextID, host: host, resumed: make(chan struct{}, 1)}
	vm.nextID++
	vm.streams[s.id] = s
	vm.current = s.id
	if _, err := vm.call(ctx, vm.fns.contextCreate, uint64(s.id), rootContextID); err != nil {
		delete(vm.streams, s.id)
		return nil, err
	}
	return s, nil
}

// callback runs one stream callback (fn with the stream's id first) and
// the http calls it made, and says whether the stream goes on now
// (Continue) or waits (Pause).
func (s *Stream) callback(ctx context.Context, fn api.Function, args ...uint64) (Action, error) {
	vm := s.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if s.done {
		return ActionContinue, errors.New("stream already finished")
	}
	vm.current = s.id
	s.continued = false
	r, err := vm.call(ctx, fn, args...)
	if err != nil {
		return ActionContinue, err
	}
	if len(vm.calls) > 0 {
		vm.dispatchCallsLocked(ctx)
	}
	if vm.broken.Load() {
		return ActionContinue, errBroken
	}
	if s.continued {
		// Resumed while its calls were answered: drop the signal so that
		// Wait does not see it twice.
		select {
		case <-s.resumed:
		default:
		}
		return ActionContinue, nil
	}
	if r == 0 || r == 2 { // Continue, ContinueAndEndStream
		return ActionContinue, nil
	}
	return ActionPause, nil
}

// Wait blocks a paused stream until the plugin resumes it, or ctx ends
// (the stream's timeouts: Envoy keeps a paused stream until then too).
func (s *Stream) Wait(ctx context.Context) error {
	select {
	case <-s.resumed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Replied reports whether the plugin sent a local response.
func (s *Stream) Replied() bool {
	s.vm.mu.Lock()
	defer s.vm.mu.Unlock()
	return s.replied
}

// Closed reports whether the plugin called proxy_close_stream.
func (s *Stream) Closed() bool {
	s.vm.mu.Lock()
	defer s.vm.mu.Unlock()
	return s.closed
}

func eos(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// RequestHeaders is proxy_on_request_headers.
func (s *Stream) RequestHeaders(ctx context.Context, n int, endOfStream bool) (Action, error) {
	return s.callback(ctx, s.vm.fns.reqHeaders, uint64(s.id), uint64(n), eos(endOfStream))
}

// RequestBody is proxy_on_request_body with the buffered length.
func (s *Stream) RequestBody(ctx context.Context, size int, endOfStream bool) (Action, error) {
	return s.callback(ctx, s.vm.fns.reqBody, uint64(s.id), uint64(size), eos(endOfStream))
}

// RequestTrailers is proxy_on_request_trailers.
func (s *Stream) RequestTrailers(ctx context.Context, n int) (Action, error) {
	return s.callback(ctx, s.vm.fns.reqTrailers, uint64(s.id), uint64(n))
}

// ResponseHeaders is proxy_on_response_headers.
func (s *Stream) ResponseHeaders(ctx context.Context, n int, endOfStream bool) (Action, error) {
	return s.callback(ctx, s.vm.fns.respHeaders, uint64(s.id), uint64(n), eos(endOfStream))
}

// ResponseBody is proxy_on_response_body with the buffered length.
func (s *Stream) ResponseBody(ctx context.Context, size int, endOfStream bool) (Action, error) {
	return s.callback(ctx, s.vm.fns.respBody, uint64(s.id), uint64(size), eos(endOfStream))
}

// ResponseTrailers is proxy_on_response_trailers.
func (s *Stream) ResponseTrailers(ctx context.Context, n int) (Action, error) {
	return s.callback(ctx, s.vm.fns.respTrailers, uint64(s.id), uint64(n))
}

// HasBodyCallbacks reports whether the module wants request or response
// bodies (a module without the export never sees them).
func (s *Stream) HasBodyCallbacks() (request, response bool) {
	return s.vm.fns.reqBody != nil, s.vm.fns.respBody != nil
}

// HasTrailerCallbacks reports whether the module wants request or
// response trailers.
func (s *Stream) HasTrailerCallbacks() (request, response bool) {
	return s.vm.fns.reqTrailers != nil, s.vm.fns.respTrailers != nil
}

// Done ends the stream: proxy_on_done, proxy_on_log, proxy_on_delete.
func (s *Stream) Done(ctx context.Context) {
	vm := s.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	defer delete(vm.streams, s.id)
	if vm.broken.Load() {
		return
	}
	vm.current = s.id
	for _, fn := range []func() error{
		func() error { _, err := vm.call(ctx, vm.fns.done, uint64(s.id)); return err },
		func() error { _, err := vm.call(ctx, vm.fns.log, uint64(s.id)); return err },
		func() error { _, err := vm.call(ctx, vm.fns.del, uint64(s.id)); return err },
	} {
		if fn() != nil {
			return
		}
	}
}
