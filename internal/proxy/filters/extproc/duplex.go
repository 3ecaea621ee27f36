package extproc

import (
	"net/http"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// duplexResponse is the FullDuplexStreamed response body: the chain's
// writes go to the processor without waiting, and a goroutine writes
// downstream what the processor streams back, until its end_of_stream.
// The status went downstream before it starts, so a failure can only
// reset the response.
type duplexResponse struct {
	w       *respWriter
	done    chan struct{}
	aborted bool
}

func startDuplexResponse(w *respWriter) *duplexResponse {
	d := &duplexResponse{w: w, done: make(chan struct{})}
	go d.receive()
	return d
}

// send streams a piece of the body, or its end (with the trailers when
// there are any and the mode sends them).
func (d *duplexResponse) send(b []byte, eos bool) {
	ss := d.w.ss
	st := ss.stream
	if st == nil {
		return
	}
	trailers := d.w.trailers()
	if eos && len(trailers) > 0 && sendTrailers(ss.mode.GetResponseTrailerMode()) {
		_ = st.Send(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseTrailers{
			ResponseTrailers: &extprocsvc.HttpTrailers{Trailers: trailerMap(trailers)}}})
		return
	}
	_ = st.Send(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocsvc.HttpBody{Body: append([]byte(nil), b...), EndOfStream: eos}}})
}

func (d *duplexResponse) wait() { <-d.done }

func (d *duplexResponse) receive() {
	defer close(d.done)
	ss := d.w.ss
	out := d.w.w
	for {
		resp, f := ss.receive()
		if f != nil {
			d.aborted = f.stops(ss.cfg.failOpen)
			return
		}
		switch x := resp.GetResponse().(type) {
		case *extprocsvc.ProcessingResponse_ResponseBody:
			applyDynamicMetadata(resp.GetDynamicMetadata(), ss.cfg.receiveNS, ss.s)
			sr := x.ResponseBody.GetResponse().GetBodyMutation().GetStreamedResponse()
			if sr == nil {
				d.aborted = !ss.cfg.failOpen
				return
			}
			if len(sr.GetBody()) > 0 {
				if _, err := out.Write(sr.GetBody()); err != nil {
					return
				}
				_ = http.NewResponseController(out).Flush()
			}
			if sr.GetEndOfStream() {
				return
			}
		case *extprocsvc.ProcessingResponse_ResponseTrailers:
			t := d.w.trailers()
			if applyMutation(x.ResponseTrailers.GetHeaderMutation(), headerTarget{h: t, trailers: true}) != nil {
				d.aborted = !ss.cfg.failOpen
				return
			}
			h := out.Header()
			for k, vs := range t {
				h[http.TrailerPrefix+k] = vs
			}
			return
		default:
			d.aborted = !ss.cfg.failOpen
			return
		}
	}
}
