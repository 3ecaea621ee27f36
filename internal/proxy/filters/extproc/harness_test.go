package extproc

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// script answers one message of the processor: the responses to send
// (none: stay silent), or an error to end the stream with.
type script func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error)

// processor is a real gRPC ext_proc server on loopback that records every
// message it gets.
type processor struct {
	extprocsvc.UnimplementedExternalProcessorServer
	addr   string
	script script
	mu     sync.Mutex
	got    []*extprocsvc.ProcessingRequest
	md     []http.Header
}

func startProcessor(t *testing.T, sc script) *processor {
	t.Helper()
	p := &processor{script: sc}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	extprocsvc.RegisterExternalProcessorServer(srv, p)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	p.addr = ln.Addr().String()
	return p
}

func (p *processor) Process(st grpc.BidiStreamingServer[extprocsvc.ProcessingRequest, extprocsvc.ProcessingResponse]) error {
	for {
		req, err := st.Recv()
		if err != nil {
			return nil
		}
		p.mu.Lock()
		p.got = append(p.got, req)
		p.mu.Unlock()
		resps, err := p.script(req)
		if errors.Is(err, errCloseOK) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, r := range resps {
			if err := st.Send(r); err != nil {
				return nil
			}
		}
	}
}

// kinds lists the kinds of messages received, in order.
func (p *processor) kinds() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.got {
		out = append(out, kindOf(r))
	}
	return strings.Join(out, ",")
}

func (p *processor) received() []*extprocsvc.ProcessingRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*extprocsvc.ProcessingRequest(nil), p.got...)
}

func kindOf(r *extprocsvc.ProcessingRequest) string {
	switch r.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return "reqH"
	case *extprocsvc.ProcessingRequest_RequestBody:
		return "reqB"
	case *extprocsvc.ProcessingRequest_RequestTrailers:
		return "reqT"
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return "respH"
	case *extprocsvc.ProcessingRequest_ResponseBody:
		return "respB"
	case *extprocsvc.ProcessingRequest_ResponseTrailers:
		return "respT"
	}
	return "?"
}

// h2cUpstreams reaches every cluster at one h2c address: the fake
// filters.Upstreams a test needs.
type h2cUpstreams struct {
	addr string
	rt   http.RoundTripper
}

func newUpstreams(addr string) *h2cUpstreams {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &h2cUpstreams{addr: addr, rt: &http.Transport{Protocols: p}}
}

func (u *h2cUpstreams) RoundTrip(_ string, req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = "http", u.addr
	return u.rt.RoundTrip(out)
}

func (u *h2cUpstreams) Dial(ctx context.Context, _ string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "tcp", u.addr)
}

// upstreamSaw is what the next handler (the "upstream") got.
type upstreamSaw struct {
	header  http.Header
	path    string
	body    string
	trailer http.Header
	called  bool
}

// run serves one request through the filter built from cfg, with next
// answering like an upstream: status 200, headers and body as given.
func run(t *testing.T, up filters.Upstreams, cfg *extprocv3.ExternalProcessor, req *http.Request, respBody string, respHeader http.Header) (*httptest.ResponseRecorder, *upstreamSaw, string) {
	t.Helper()
	if cfg.MessageTimeout == nil {
		// Far above what a message costs: a loaded shared machine must not
		// turn a test of something else into a timeout.
		cfg = clone(cfg)
		cfg.MessageTimeout = durationpb.New(5 * time.Second)
	}
	a, _ := anypb.New(cfg)
	f, err := newFilter("ext_proc", a, filters.BuildContext{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	saw := &upstreamSaw{}
	details := ""
	s := &filters.Stream{Request: req, Writer: rec, Upstreams: up, RouteName: "route-a"}
	s.LocalReply = func(code int, body, d string) {
		details = d
		s.Writer.WriteHeader(code)
		_, _ = io.WriteString(s.Writer, body)
	}
	s.ClearRouteCache = func() { s.Request.Header.Set("x-route-cleared", "yes") }
	f.Serve(s, func(s *filters.Stream) {
		saw.called = true
		b, _ := io.ReadAll(s.Request.Body)
		saw.header, saw.path, saw.body, saw.trailer = s.Request.Header.Clone(), s.Request.URL.RequestURI(), string(b), s.Request.Trailer
		for k, vs := range respHeader {
			s.Writer.Header()[k] = vs
		}
		s.Writer.WriteHeader(http.StatusOK)
		for _, part := range strings.SplitAfter(respBody, "|") {
			_, _ = io.WriteString(s.Writer, part)
		}
	})
	return rec, saw, details
}

func grpcTarget(cluster string) *corev3.GrpcService {
	return &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
		ClusterName: cluster, Authority: "grpc-ext-proc.default:9002"}}, Timeout: durationpb.New(10 * time.Second)}
}

func mode(reqH, respH extprocv3.ProcessingMode_HeaderSendMode, reqB, respB extprocv3.ProcessingMode_BodySendMode) *extprocv3.ProcessingMode {
	return &extprocv3.ProcessingMode{RequestHeaderMode: reqH, ResponseHeaderMode: respH, RequestBodyMode: reqB, ResponseBodyMode: respB,
		RequestTrailerMode: extprocv3.ProcessingMode_SKIP, ResponseTrailerMode: extprocv3.ProcessingMode_SKIP}
}

const (
	send = extprocv3.ProcessingMode_SEND
	skip = extprocv3.ProcessingMode_SKIP
	none = extprocv3.ProcessingMode_NONE
)

func setHeader(k, v string, appendIt bool) *corev3.HeaderValueOption {
	o := &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, RawValue: []byte(v)}}
	if appendIt {
		o.Append = wrapBool(true)
	}
	return o
}

func common(m *extprocsvc.HeaderMutation, body *extprocsvc.BodyMutation) *extprocsvc.CommonResponse {
	return &extprocsvc.CommonResponse{HeaderMutation: m, BodyMutation: body}
}

// ack answers a message with no change, of the matching kind.
func ack(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	return answer(req, &extprocsvc.CommonResponse{})
}

// answer answers with a common response of the matching kind.
func answer(req *extprocsvc.ProcessingRequest, cr *extprocsvc.CommonResponse) *extprocsvc.ProcessingResponse {
	switch req.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocsvc.HeadersResponse{Response: cr}}}
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvc.HeadersResponse{Response: cr}}}
	case *extprocsvc.ProcessingRequest_RequestBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestBody{RequestBody: &extprocsvc.BodyResponse{Response: cr}}}
	case *extprocsvc.ProcessingRequest_ResponseBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseBody{ResponseBody: &extprocsvc.BodyResponse{Response: cr}}}
	case *extprocsvc.ProcessingRequest_RequestTrailers:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocsvc.TrailersResponse{HeaderMutation: cr.GetHeaderMutation()}}}
	case *extprocsvc.ProcessingRequest_ResponseTrailers:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocsvc.TrailersResponse{HeaderMutation: cr.GetHeaderMutation()}}}
	}
	return nil
}

func clone[M proto.Message](m M) M { return proto.Clone(m).(M) }

type corev3HVO = corev3.HeaderValueOption

type filtersStream = filters.Stream

var anypbNew = anypb.New

func filtersBuildContext() filters.BuildContext { return filters.BuildContext{} }

// newStream is a stream as the HCM makes it, answering local replies on
// a recorder.
func newStream(req *http.Request, up filters.Upstreams) (*filters.Stream, *httptest.ResponseRecorder) {
	rec := httptest.NewRecorder()
	s := &filters.Stream{Request: req, Writer: rec, Upstreams: up, RouteName: "route-a"}
	s.LocalReply = func(code int, body, _ string) { s.Writer.WriteHeader(code); _, _ = io.WriteString(s.Writer, body) }
	s.ClearRouteCache = func() { s.Request.Header.Set("x-route-cleared", "yes") }
	return s, rec
}

// garbageServer answers every call with a gRPC frame that is not a
// protobuf message.
func garbageServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		_, _ = w.Write([]byte{0, 0, 0, 0, 3, 0xff, 0xff, 0xff})
		w.Header().Set("Grpc-Status", "0")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
