package extproc

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// BenchmarkHeadersOnly is one request through the filter with request and
// response headers sent to a processor on loopback (h2c): the filter's
// cost per stream, the processor's included.
func BenchmarkHeadersOnly(b *testing.B) {
	benchMode(b, mode(send, send, none, none))
}

// BenchmarkStreamedResponse adds a streamed response body of two pieces.
func BenchmarkStreamedResponse(b *testing.B) {
	benchMode(b, mode(send, send, none, extprocv3.ProcessingMode_STREAMED))
}

func benchMode(b *testing.B, m *extprocv3.ProcessingMode) {
	t := &testing.T{}
	p := startProcessor(t, func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
		return []*extprocsvc.ProcessingResponse{ack(req)}, nil
	})
	// A message timeout far above the cost measured: on a shared machine a
	// scheduling stall past Envoy's 200ms default would fail the stream.
	a, _ := anypbNew(&extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: m, MessageTimeout: durationpb.New(10 * time.Second)})
	f, err := newFilter("ext_proc", a, filtersBuildContext())
	if err != nil {
		b.Fatal(err)
	}
	up := newUpstreams(p.addr)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, rec := newStream(httptest.NewRequest("GET", "http://x/", nil), up)
			f.Serve(s, func(s *filtersStream) {
				s.Writer.WriteHeader(200)
				_, _ = io.WriteString(s.Writer, "hello ")
				_, _ = io.WriteString(s.Writer, "world")
			})
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code)
			}
		}
	})
}
