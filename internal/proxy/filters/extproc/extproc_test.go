package extproc

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func wrapBool(b bool) *wrapperspb.BoolValue { return wrapperspb.Bool(b) }

func upper(b []byte) *extprocsvc.BodyMutation {
	return &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: bytes.ToUpper(b)}}
}

// bodyOf is the body a message carries.
func bodyOf(r *extprocsvc.ProcessingRequest) []byte {
	if b := r.GetRequestBody(); b != nil {
		return b.GetBody()
	}
	return r.GetResponseBody().GetBody()
}

// upperScript uppercases every body piece and marks headers.
func upperScript(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
	switch req.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return []*extprocsvc.ProcessingResponse{answer(req, common(&extprocsvc.HeaderMutation{SetHeaders: []*corev3HVO{setHeader("x-req-processed", "true", false)}}, nil))}, nil
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return []*extprocsvc.ProcessingResponse{answer(req, common(&extprocsvc.HeaderMutation{SetHeaders: []*corev3HVO{setHeader("x-resp-processed", "true", false)}}, nil))}, nil
	case *extprocsvc.ProcessingRequest_RequestBody, *extprocsvc.ProcessingRequest_ResponseBody:
		return []*extprocsvc.ProcessingResponse{answer(req, common(nil, upper(bodyOf(req))))}, nil
	}
	return []*extprocsvc.ProcessingResponse{ack(req)}, nil
}

func post(body string) *http.Request {
	r := httptest.NewRequest("POST", "http://www.example.com/p?q=1", strings.NewReader(body))
	return r
}

// Every body mode in both directions, against a processor that records
// what it got: what it was sent, in order, and what reached each side.
func TestBodyModes(t *testing.T) {
	cases := []struct {
		name        string
		reqB, respB extprocv3.ProcessingMode_BodySendMode
		kinds       string
		upBody      string // what the upstream got
		downBody    string // what the client got
		contentLen  string // the client's Content-Length ("" = none)
	}{
		{"headers-only", none, none, "reqH,respH", "hello", "a|b", "3"},
		{"buffered", extprocv3.ProcessingMode_BUFFERED, extprocv3.ProcessingMode_BUFFERED, "reqH,reqB,respH,respB", "HELLO", "A|B", "3"},
		{"buffered-partial", extprocv3.ProcessingMode_BUFFERED_PARTIAL, extprocv3.ProcessingMode_BUFFERED_PARTIAL, "reqH,reqB,respH,respB", "HELLO", "A|B", "3"},
		{"streamed", extprocv3.ProcessingMode_STREAMED, extprocv3.ProcessingMode_STREAMED, "reqH,reqB,reqB,respH,respB,respB,respB", "HELLO", "A|B", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startProcessor(t, upperScript)
			cfg := &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(send, send, tc.reqB, tc.respB)}
			rec, saw, details := run(t, newUpstreams(p.addr), cfg, post("hello"), "a|b", http.Header{"Content-Length": {"3"}})
			if rec.Code != 200 || details != "" {
				t.Fatalf("code %d details %q body %q", rec.Code, details, rec.Body.String())
			}
			if saw.body != tc.upBody || saw.header.Get("X-Req-Processed") != "true" {
				t.Errorf("upstream got %q %v", saw.body, saw.header)
			}
			if rec.Body.String() != tc.downBody || rec.Header().Get("X-Resp-Processed") != "true" {
				t.Errorf("client got %q %v", rec.Body.String(), rec.Header())
			}
			if got := rec.Header().Get("Content-Length"); got != tc.contentLen {
				t.Errorf("content-length %q, want %q", got, tc.contentLen)
			}
			if k := p.kinds(); k != tc.kinds {
				t.Errorf("processor got %s, want %s", k, tc.kinds)
			}
		})
	}
}

// Full duplex: the processor streams back its own body; the trailer mode
// Envoy Gateway sets alongside sends the trailers.
func TestFullDuplexStreamed(t *testing.T) {
	p := startProcessor(t, func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
		var b *extprocsvc.HttpBody
		switch {
		case req.GetRequestBody() != nil:
			b = req.GetRequestBody()
		case req.GetResponseBody() != nil:
			b = req.GetResponseBody()
		default:
			return []*extprocsvc.ProcessingResponse{ack(req)}, nil
		}
		sr := &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_StreamedResponse{StreamedResponse: &extprocsvc.StreamedBodyResponse{
			Body: bytes.ToUpper(b.GetBody()), EndOfStream: b.GetEndOfStream()}}}
		return []*extprocsvc.ProcessingResponse{answer(req, common(nil, sr))}, nil
	})
	m := mode(skip, skip, extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED, extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED)
	m.RequestTrailerMode, m.ResponseTrailerMode = send, send
	rec, saw, details := run(t, newUpstreams(p.addr), &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: m},
		post("duplex body"), "x|y|z", nil)
	if rec.Code != 200 || details != "" || saw.body != "DUPLEX BODY" || rec.Body.String() != "X|Y|Z" {
		t.Fatalf("code %d %q: upstream %q client %q", rec.Code, details, saw.body, rec.Body.String())
	}
	if k := p.kinds(); !strings.HasPrefix(k, "reqB") || !strings.Contains(k, "respB") {
		t.Fatalf("processor got %s", k)
	}
}

// Header mutations follow Envoy's default rules; :path changes; the
// routing headers and x-envoy-* cannot be changed; attributes, metadata
// and the raw values the processor gets.
func TestHeaderMutationsAttributesMetadata(t *testing.T) {
	p := startProcessor(t, func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
		if req.GetRequestHeaders() == nil {
			return []*extprocsvc.ProcessingResponse{ack(req)}, nil
		}
		md, _ := structpb.NewStruct(map[string]any{"io.example": map[string]any{"k": "v"}, "not.writable": map[string]any{"k": "v"}})
		r := answer(req, common(&extprocsvc.HeaderMutation{
			SetHeaders: []*corev3HVO{setHeader("x-set", "1", false), setHeader("x-multi", "b", true), setHeader(":path", "/rewritten?z=2", false),
				setHeader(":method", "DELETE", false), setHeader("host", "evil", false), setHeader("x-envoy-foo", "1", false)},
			RemoveHeaders: []string{"x-remove", ":authority"},
		}, nil))
		r.GetRequestHeaders().Response.ClearRouteCache = true
		r.DynamicMetadata = md
		return []*extprocsvc.ProcessingResponse{r}, nil
	})
	cfg := &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(send, skip, none, none),
		RequestAttributes: []string{"xds.route_name", "request.path", "request.method", "nope.unknown"},
		MetadataOptions: &extprocv3.MetadataOptions{
			ForwardingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{"envoy.filters.http.rbac"}},
			ReceivingNamespaces:  &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{"io.example"}}}}
	req := httptest.NewRequest("GET", "http://www.example.com/orig", nil)
	req.Header.Set("X-Remove", "1")
	req.Header.Set("X-Multi", "a")
	a, _ := anypbNew(cfg)
	f, err := newFilter("ext_proc", a, filtersBuildContext())
	if err != nil {
		t.Fatal(err)
	}
	s, rec := newStream(req, newUpstreams(p.addr))
	s.DynamicMetadata()["envoy.filters.http.rbac"] = map[string]any{"enforced_engine_result": "allowed"}
	var saw *http.Request
	f.Serve(s, func(s *filtersStream) { saw = s.Request; s.Writer.WriteHeader(200) })
	if rec.Code != 200 || saw == nil {
		t.Fatalf("code %d", rec.Code)
	}
	if saw.Header.Get("X-Set") != "1" || strings.Join(saw.Header.Values("X-Multi"), ",") != "a,b" || saw.Header.Get("X-Remove") != "" ||
		saw.URL.RequestURI() != "/rewritten?z=2" || saw.Method != "GET" || saw.Host != "www.example.com" || saw.Header.Get("X-Envoy-Foo") != "" ||
		saw.Header.Get("X-Route-Cleared") != "yes" {
		t.Fatalf("upstream request %s %s %s %v", saw.Method, saw.Host, saw.URL, saw.Header)
	}
	dm := s.DynamicMetadata()
	if dm["io.example"]["k"] != "v" || dm["not.writable"] != nil {
		t.Fatalf("dynamic metadata %v", dm)
	}
	got := p.received()[0]
	attrs := got.GetAttributes()[attributesKey].GetFields()
	if attrs["xds.route_name"].GetStringValue() != "route-a" || attrs["request.path"].GetStringValue() != "/orig" ||
		attrs["request.method"].GetStringValue() != "GET" || attrs["nope.unknown"] != nil {
		t.Fatalf("attributes %v", attrs)
	}
	if v := got.GetMetadataContext().GetFilterMetadata()["envoy.filters.http.rbac"].GetFields()["enforced_engine_result"].GetStringValue(); v != "allowed" {
		t.Fatalf("metadata context %v", got.GetMetadataContext())
	}
	hs := map[string]string{}
	for _, h := range got.GetRequestHeaders().GetHeaders().GetHeaders() {
		hs[h.GetKey()] = string(h.GetRawValue())
	}
	if hs[":path"] != "/orig" || hs[":method"] != "GET" || hs[":authority"] != "www.example.com" || hs["x-remove"] != "1" ||
		!got.GetRequestHeaders().GetEndOfStream() {
		t.Fatalf("headers sent %v", hs)
	}
}

// Failures: Envoy's status and details, only this request affected; with
// failure_mode_allow the request goes on unprocessed.
func TestFailures(t *testing.T) {
	silent := func(*extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) { return nil, nil }
	cases := []struct {
		name    string
		script  script
		addr    string // overrides the processor's address
		code    int
		details string
	}{
		{"slow", silent, "", 504, "ext_proc_error_per-message_timeout_exceeded"},
		{"down", nil, "127.0.0.1:1", 500, "ext_proc_error_gRPC_error_14{"},
		{"error-status", func(*extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
			return nil, status.Error(codes.PermissionDenied, "no")
		}, "", 500, "ext_proc_error_gRPC_error_7{no}"},
		{"closes-ok-early", func(*extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
			return nil, errCloseOK
		}, "", 200, ""},
		{"wrong-kind", func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
			return []*extprocsvc.ProcessingResponse{{Response: &extprocsvc.ProcessingResponse_ResponseBody{ResponseBody: &extprocsvc.BodyResponse{}}}}, nil
		}, "", 500, "ext_proc_error_spurious_message"},
		{"bad-pseudo-header", func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
			return []*extprocsvc.ProcessingResponse{answer(req, common(&extprocsvc.HeaderMutation{SetHeaders: []*corev3HVO{setHeader(":foo", "x", false)}}, nil))}, nil
		}, "", 500, "ext_proc_error_pseudo-header_:foo_cannot_be_set_here"},
		{"bad-header-value", func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
			return []*extprocsvc.ProcessingResponse{answer(req, common(&extprocsvc.HeaderMutation{SetHeaders: []*corev3HVO{setHeader("x-a", "a\r\nb", false)}}, nil))}, nil
		}, "", 500, `ext_proc_error_invalid_value_for_header_"x-a"`},
		{"garbage", nil, "garbage", 500, "ext_proc_error_gRPC_error_13{malformed message"},
		{"oversized-body", func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
			big := &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: make([]byte, 5<<20)}}
			r := answer(req, common(nil, big))
			r.GetRequestHeaders().Response.Status = extprocsvc.CommonResponse_CONTINUE_AND_REPLACE
			return []*extprocsvc.ProcessingResponse{r}, nil
		}, "", 500, "ext_proc_error_gRPC_error_8{message of"},
	}
	for _, tc := range cases {
		for _, failOpen := range []bool{false, true} {
			name := tc.name
			if failOpen {
				name += "/failure_mode_allow"
			}
			t.Run(name, func(t *testing.T) {
				addr := tc.addr
				switch {
				case tc.script != nil:
					addr = startProcessor(t, tc.script).addr
				case addr == "garbage":
					addr = garbageServer(t)
				}
				cfg := &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(send, skip, none, none),
					FailureModeAllow: failOpen}
				if tc.name == "slow" {
					cfg.MessageTimeout = durationpb.New(100 * time.Millisecond)
				}
				rec, saw, details := run(t, newUpstreams(addr), cfg, post("x"), "ok", nil)
				wantCode, wantDetails := tc.code, tc.details
				if failOpen {
					wantCode, wantDetails = 200, ""
				}
				if rec.Code != wantCode || !strings.HasPrefix(details, wantDetails) || (wantDetails == "" && details != "") {
					t.Fatalf("code %d details %q, want %d %q", rec.Code, details, wantCode, wantDetails)
				}
				if saw.called != (wantCode == 200) {
					t.Fatalf("upstream called: %v", saw.called)
				}
			})
		}
	}
	// status_on_error replaces 500.
	cfg := &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(send, skip, none, none),
		StatusOnError: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable}}
	if rec, _, _ := run(t, newUpstreams("127.0.0.1:1"), cfg, post("x"), "ok", nil); rec.Code != 503 {
		t.Fatalf("status_on_error: %d", rec.Code)
	}
}

var errCloseOK = errors.New("close with OK")
