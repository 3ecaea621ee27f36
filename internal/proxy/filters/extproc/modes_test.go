package extproc

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// immediate_response answers instead of the upstream, at the request
// headers and at the response headers.
func TestImmediateResponse(t *testing.T) {
	for _, at := range []string{"reqH", "respH"} {
		t.Run(at, func(t *testing.T) {
			p := startProcessor(t, func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
				if kindOf(req) != at {
					return []*extprocsvc.ProcessingResponse{ack(req)}, nil
				}
				return []*extprocsvc.ProcessingResponse{{Response: &extprocsvc.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocsvc.ImmediateResponse{
					Status:  &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
					Headers: &extprocsvc.HeaderMutation{SetHeaders: []*corev3HVO{setHeader("x-denied-by", "processor", false)}},
					Body:    []byte("denied"),
				}}}}, nil
			})
			cfg := &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(send, send, none, none)}
			rec, saw, _ := run(t, newUpstreams(p.addr), cfg, post("x"), "upstream body", http.Header{"X-Upstream": {"1"}})
			if rec.Code != 403 || rec.Body.String() != "denied" || rec.Header().Get("X-Denied-By") != "processor" || rec.Header().Get("X-Upstream") != "" {
				t.Fatalf("%d %q %v", rec.Code, rec.Body.String(), rec.Header())
			}
			if saw.called != (at == "respH") {
				t.Fatalf("upstream called: %v", saw.called)
			}
		})
	}
}

// mode_override applies only with allow_mode_override, and only to a mode
// allowed_override_modes lists.
func TestModeOverride(t *testing.T) {
	skipResponse := mode(send, skip, none, none)
	cases := []struct {
		name    string
		allow   bool
		allowed []*extprocv3.ProcessingMode
		kinds   string
	}{
		{"not-allowed", false, nil, "reqH,respH"},
		{"allowed", true, nil, "reqH"},
		{"allowed-listed", true, []*extprocv3.ProcessingMode{skipResponse}, "reqH"},
		{"allowed-not-listed", true, []*extprocv3.ProcessingMode{mode(send, send, extprocv3.ProcessingMode_BUFFERED, none)}, "reqH,respH"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startProcessor(t, func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
				r := ack(req)
				r.ModeOverride = skipResponse
				return []*extprocsvc.ProcessingResponse{r}, nil
			})
			cfg := &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(send, send, none, none),
				AllowModeOverride: tc.allow, AllowedOverrideModes: tc.allowed}
			if rec, _, _ := run(t, newUpstreams(p.addr), cfg, post("x"), "ok", nil); rec.Code != 200 {
				t.Fatal(rec.Code)
			}
			if k := p.kinds(); k != tc.kinds {
				t.Fatalf("processor got %s, want %s", k, tc.kinds)
			}
		})
	}
}

// Trailers are sent when the mode says so and mutated by the answer.
func TestTrailers(t *testing.T) {
	p := startProcessor(t, func(req *extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) {
		if req.GetRequestTrailers() != nil || req.GetResponseTrailers() != nil {
			return []*extprocsvc.ProcessingResponse{answer(req, common(&extprocsvc.HeaderMutation{SetHeaders: []*corev3HVO{setHeader("x-checksum", "ok", false)}}, nil))}, nil
		}
		return []*extprocsvc.ProcessingResponse{ack(req)}, nil
	})
	m := mode(skip, skip, none, none)
	m.RequestTrailerMode, m.ResponseTrailerMode = send, send
	a, _ := anypbNew(&extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: m})
	f, err := newFilter("ext_proc", a, filtersBuildContext())
	if err != nil {
		t.Fatal(err)
	}
	req := post("body")
	req.Trailer = http.Header{"X-Checksum": {"pending"}}
	s, rec := newStream(req, newUpstreams(p.addr))
	var upTrailer string
	f.Serve(s, func(s *filtersStream) {
		_, _ = io.ReadAll(s.Request.Body)
		upTrailer = s.Request.Trailer.Get("X-Checksum")
		s.Writer.Header().Set("Trailer", "X-Checksum")
		s.Writer.WriteHeader(200)
		_, _ = io.WriteString(s.Writer, "resp")
		s.Writer.Header().Set(http.TrailerPrefix+"X-Checksum", "pending")
	})
	if upTrailer != "ok" || rec.Header().Get(http.TrailerPrefix+"X-Checksum") != "ok" || p.kinds() != "reqT,respT" {
		t.Fatalf("upstream trailer %q, client %v, processor %s", upTrailer, rec.Header(), p.kinds())
	}
}

// Observability mode sends without waiting: a processor that never
// answers changes nothing and delays nothing.
func TestObservabilityMode(t *testing.T) {
	p := startProcessor(t, func(*extprocsvc.ProcessingRequest) ([]*extprocsvc.ProcessingResponse, error) { return nil, nil })
	cfg := &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(send, send, none, none),
		ObservabilityMode: true, MessageTimeout: durationpb.New(time.Hour)}
	start := time.Now()
	rec, saw, _ := run(t, newUpstreams(p.addr), cfg, post("x"), "ok", nil)
	if rec.Code != 200 || !saw.called || time.Since(start) > 5*time.Second {
		t.Fatalf("%d %v", rec.Code, saw.called)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.kinds() != "reqH,respH" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if k := p.kinds(); k != "reqH,respH" {
		t.Fatalf("processor got %q", k)
	}
	for _, r := range p.received() {
		if !r.GetObservabilityMode() {
			t.Fatal("observability_mode not set on the message")
		}
	}
}

// A body larger than the buffer: Buffered answers 413 without calling the
// upstream; BufferedPartial sends the first MaxBody bytes and streams the
// rest untouched.
func TestBufferLimit(t *testing.T) {
	big := strings.Repeat("a", MaxBody+10)
	p := startProcessor(t, upperScript)
	cfg := &extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(skip, skip, extprocv3.ProcessingMode_BUFFERED, none)}
	rec, saw, details := run(t, newUpstreams(p.addr), cfg, post(big), "ok", nil)
	if rec.Code != 413 || saw.called || details != "request_payload_too_large" {
		t.Fatalf("buffered: %d %v %q", rec.Code, saw.called, details)
	}
	cfg.ProcessingMode = mode(skip, skip, extprocv3.ProcessingMode_BUFFERED_PARTIAL, none)
	rec, saw, _ = run(t, newUpstreams(p.addr), cfg, post(big), "ok", nil)
	if rec.Code != 200 || saw.body != strings.ToUpper(big[:MaxBody])+big[MaxBody:] {
		t.Fatalf("partial: %d, upstream got %d bytes", rec.Code, len(saw.body))
	}
}

// Per route: disabled skips the filter; overrides change the mode.
func TestPerRoute(t *testing.T) {
	p := startProcessor(t, upperScript)
	a, _ := anypbNew(&extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), ProcessingMode: mode(send, send, none, none)})
	f, _ := newFilter("ext_proc", a, filtersBuildContext())
	for _, tc := range []struct {
		pr    *extprocv3.ExtProcPerRoute
		kinds string
	}{
		{&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Disabled{Disabled: true}}, ""},
		{&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
			ProcessingMode: mode(skip, send, none, none)}}}, "respH"},
	} {
		before := len(p.received())
		pra, _ := anypbNew(tc.pr)
		cfgPR, err := parsePerRoute(pra)
		if err != nil {
			t.Fatal(err)
		}
		s, rec := newStream(httptest.NewRequest("GET", "http://x/", nil), newUpstreams(p.addr))
		s.SetPerRoute(map[string]any{"ext_proc": cfgPR})
		f.Serve(s, func(s *filtersStream) { s.Writer.WriteHeader(200) })
		var kinds []string
		for _, r := range p.received()[before:] {
			kinds = append(kinds, kindOf(r))
		}
		if rec.Code != 200 || strings.Join(kinds, ",") != tc.kinds {
			t.Fatalf("%d %v, want %s", rec.Code, kinds, tc.kinds)
		}
	}
}

// A config with what the proxy does not implement is refused, naming it.
func TestConfigNACK(t *testing.T) {
	for _, tc := range []struct {
		cfg  *extprocv3.ExternalProcessor
		want string
	}{
		{&extprocv3.ExternalProcessor{GrpcService: grpcTarget("c"), MutationRules: nil, SendBodyWithoutWaitingForHeaderResponse: true}, "send_body_without_waiting_for_header_response"},
		{&extprocv3.ExternalProcessor{HttpService: &extprocv3.ExtProcHttpService{}}, "http_service"},
	} {
		a, _ := anypbNew(tc.cfg)
		if _, err := newFilter("ext_proc", a, filtersBuildContext()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
}
