package extproc

import (
	"io"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// The streaming request bodies process the body as the router reads it,
// possibly on an HTTP transport's goroutine: they hold the session's lock
// while they talk to the processor, and never answer the request
// themselves. A failure that stops the request is left in ss.pending and
// the read fails; the response writer then answers with it.

// streamedBody is the Streamed mode: each piece read from downstream is
// sent and replaced by the processor's answer before it goes upstream.
type streamedBody struct {
	ss  *session
	src io.ReadCloser
	buf []byte
	pieces
}

func (b *streamedBody) Read(p []byte) (int, error) {
	return b.read(p, func() ([]byte, bool, error) {
		n, err := b.src.Read(b.buf)
		if err != nil && err != io.EOF {
			return nil, false, err
		}
		eos := err == io.EOF
		if n == 0 && !eos {
			return nil, false, nil
		}
		out, err := b.ss.streamChunk(b.buf[:n], eos)
		return out, eos, err
	})
}

// pieces hands out a body made of pieces that next produces one at a
// time (with whether it was the last).
type pieces struct {
	out  []byte
	done bool
}

func (b *pieces) read(p []byte, next func() ([]byte, bool, error)) (int, error) {
	for len(b.out) == 0 {
		if b.done {
			return 0, io.EOF
		}
		out, eos, err := next()
		if err != nil {
			return 0, err
		}
		b.out, b.done = out, eos
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *streamedBody) Close() error { return b.src.Close() }

// streamChunk processes one streamed piece under the session lock; the
// last one is followed by the trailers when they are sent.
func (ss *session) streamChunk(chunk []byte, eos bool) ([]byte, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	trailers := eos && sendTrailers(ss.mode.GetRequestTrailerMode()) && len(ss.s.Request.Trailer) > 0
	out, f := ss.requestChunk(append([]byte(nil), chunk...), eos && !trailers)
	if f == nil && trailers {
		f = ss.requestTrailers()
	}
	if f != nil {
		return ss.streamFailure(f, chunk)
	}
	return out, nil
}

// streamFailure ends processing during a streamed body: the piece goes on
// unchanged when the request continues, else the read fails.
func (ss *session) streamFailure(f *failure, chunk []byte) ([]byte, error) {
	ss.complete = true
	ss.closeStream()
	if !f.stops(ss.cfg.failOpen) {
		return chunk, nil
	}
	ss.pending = f
	return nil, errProcessing
}

// trailerBody passes the body through and sends the trailers at its end
// (body mode None, trailers Send).
type trailerBody struct {
	ss   *session
	src  io.ReadCloser
	sent bool
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	if err == io.EOF && !b.sent {
		b.sent = true
		b.ss.mu.Lock()
		f := b.ss.requestTrailers()
		var ferr error
		if f != nil {
			_, ferr = b.ss.streamFailure(f, nil)
		}
		b.ss.mu.Unlock()
		if ferr != nil {
			return n, ferr
		}
	}
	return n, err
}

func (b *trailerBody) Close() error { return b.src.Close() }

// duplexBody is the FullDuplexStreamed mode: the downstream body (and its
// trailers) go to the processor as they come, without waiting, and what
// goes upstream is what the processor streams back (streamed_response
// body mutations) until it says end_of_stream.
type duplexBody struct {
	ss      *session
	src     io.ReadCloser
	started bool
	pieces
}

func (b *duplexBody) Read(p []byte) (int, error) {
	ss := b.ss
	if !b.started {
		b.started = true
		ss.mu.Lock()
		if ss.ensureStream() {
			go ss.sendDuplex(b.src)
		}
		ss.mu.Unlock()
	}
	return b.read(p, func() ([]byte, bool, error) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return ss.recvDuplex()
	})
}

func (b *duplexBody) Close() error { return b.src.Close() }

// sendDuplex streams the downstream body to the processor. A send error
// shows up on the receiving side as the stream's failure.
func (ss *session) sendDuplex(src io.Reader) {
	buf := make([]byte, 32<<10)
	st := ss.stream
	for {
		n, err := src.Read(buf)
		eos := err != nil
		trailers := eos && len(ss.s.Request.Trailer) > 0
		if n > 0 || eos {
			msg := &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestBody{
				RequestBody: &extprocsvc.HttpBody{Body: append([]byte(nil), buf[:n]...), EndOfStream: eos && !trailers}}}
			if st.Send(msg) != nil {
				return
			}
		}
		if trailers {
			_ = st.Send(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestTrailers{
				RequestTrailers: &extprocsvc.HttpTrailers{Trailers: trailerMap(ss.s.Request.Trailer)}}})
		}
		if eos {
			return
		}
	}
}

// recvDuplex waits for the processor's next piece of the request body.
func (ss *session) recvDuplex() ([]byte, bool, error) {
	if ss.complete {
		// The processor left: nothing more comes from it.
		return nil, true, nil
	}
	resp, f := ss.receive()
	if f != nil {
		_, err := ss.streamFailure(f, nil)
		return nil, true, err
	}
	switch x := resp.GetResponse().(type) {
	case *extprocsvc.ProcessingResponse_RequestBody:
		applyDynamicMetadata(resp.GetDynamicMetadata(), ss.cfg.receiveNS, ss.s)
		sr := x.RequestBody.GetResponse().GetBodyMutation().GetStreamedResponse()
		if sr == nil {
			_, err := ss.streamFailure(ss.protocolFailure("full duplex body answer without streamed_response"), nil)
			return nil, true, err
		}
		return sr.GetBody(), sr.GetEndOfStream(), nil
	case *extprocsvc.ProcessingResponse_RequestTrailers:
		if err := applyMutation(x.RequestTrailers.GetHeaderMutation(), headerTarget{h: ss.s.Request.Trailer, trailers: true}); err != nil {
			_, err := ss.streamFailure(ss.protocolFailure(err.Error()), nil)
			return nil, true, err
		}
		return nil, true, nil
	case *extprocsvc.ProcessingResponse_ImmediateResponse:
		_, err := ss.streamFailure(&failure{immediate: x.ImmediateResponse}, nil)
		return nil, true, err
	}
	_, err := ss.streamFailure(ss.protocolFailure("spurious message"), nil)
	return nil, true, err
}
