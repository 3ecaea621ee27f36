package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// A test filter keyed by google.protobuf.StringValue: it stamps its value
// (or the per-route override) on the response.
func init() {
	filters.Register(&filters.Factory{
		TypeURL:          "type.googleapis.com/google.protobuf.StringValue",
		PerRouteTypeURLs: []string{"type.googleapis.com/google.protobuf.BytesValue"},
		New: func(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
			var v wrapperspb.StringValue
			if err := cfg.UnmarshalTo(&v); err != nil {
				return nil, err
			}
			return filters.FilterFunc(func(s *filters.Stream, next filters.Next) {
				val := v.GetValue()
				if o, ok := s.PerRoute(name); ok {
					val = o.(string)
				}
				s.Writer.Header().Set("x-stamp", val)
				next(s)
			}), nil
		},
		PerRoute: func(cfg *anypb.Any) (any, error) {
			var v wrapperspb.BytesValue
			if err := cfg.UnmarshalTo(&v); err != nil {
				return nil, err
			}
			return string(v.GetValue()), nil
		},
	})
}

func TestFilterDisabledAndPerRoute(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := backend(t, "a")
	stamp := &hcmv3.HttpFilter{Name: "test.stamp/policy/0", Disabled: true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(wrapperspb.String("listener"))}}
	enable := mustAny(&routev3.FilterConfig{})
	override := mustAny(&routev3.FilterConfig{Config: mustAny(wrapperspb.Bytes([]byte("route")))})
	// Envoy Gateway writes `config: {}` (an empty Any): no config, enable only.
	enableEmpty := mustAny(&routev3.FilterConfig{Config: &anypb.Any{}})
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{
			{Match: prefix("/on"), Action: routeTo("a"), TypedPerFilterConfig: map[string]*anypb.Any{"test.stamp/policy/0": enable}},
			{Match: prefix("/empty"), Action: routeTo("a"), TypedPerFilterConfig: map[string]*anypb.Any{"test.stamp/policy/0": enableEmpty}},
			{Match: prefix("/override"), Action: routeTo("a"), TypedPerFilterConfig: map[string]*anypb.Any{"test.stamp/policy/0": override}},
			{Match: prefix("/"), Action: routeTo("a")},
		}}}}
	res := basic(port, rc, map[string][]string{"a": {be}})
	res[resourcev3.ListenerType][0] = listener("l", port, "rc", nil, stamp)
	h.pushAndWait(t, res)
	for uri, want := range map[string]string{"/off": "", "/on": "listener", "/empty": "listener", "/override": "route"} {
		if got := get(t, port, "x", uri).hdr.Get("x-stamp"); got != want {
			t.Errorf("%s: x-stamp %q, want %q", uri, got, want)
		}
	}
}

// gRPC-shaped traffic: h2c downstream, h2c upstream, streamed body and
// trailers passed through.
func TestH2CTrailers(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("frame"))
		w.Header().Set("Grpc-Status", "0")
	}))
	res := basic(port, simpleRoutes("g"), nil)
	res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType][:0], edsClusterH2("g"))
	res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType][:0], cla("g", be))
	h.pushAndWait(t, res)
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: p}}
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+itoa(port)+"/svc/Method", strings.NewReader("req"))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "frame" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("proto %s body %q trailers %v", resp.Proto, b, resp.Trailer)
	}
	// A local reply to a gRPC request is a trailers-only gRPC error.
	req, _ = http.NewRequest("POST", "http://127.0.0.1:"+itoa(port)+"/svc/Method", nil)
	req.Host = "x"
	req.Header.Set("Content-Type", "application/grpc")
	h.pushAndWait(t, basic(port, &routev3.RouteConfiguration{Name: "rc"}, nil))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "12" {
		t.Fatalf("grpc local reply: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestWebsocketUpgrade(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			w.WriteHeader(400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = conn.Write([]byte("echo:" + line))
	}))
	rc := simpleRoutes("ws")
	rc.VirtualHosts[0].Routes[0].GetRoute().UpgradeConfigs = []*routev3.RouteAction_UpgradeConfig{{UpgradeType: "websocket"}}
	res := basic(port, rc, map[string][]string{"ws": {be}})
	res[resourcev3.ListenerType][0] = listener("l", port, "rc", func(m *hcmv3.HttpConnectionManager) {
		m.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}}
	})
	h.pushAndWait(t, res)
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(port), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", err, resp)
	}
	_, _ = io.WriteString(conn, "hello\n")
	line, _ := br.ReadString('\n')
	if line != "echo:hello\n" {
		t.Fatalf("tunnel got %q", line)
	}
}

// A test authorization filter keyed by google.protobuf.Value: it asks the
// cluster named in its config, the way ext_authz does over HTTP.
func init() {
	filters.Register(&filters.Factory{
		TypeURL: "type.googleapis.com/google.protobuf.Value",
		New: func(name string, cfg *anypb.Any, _ filters.BuildContext) (filters.Filter, error) {
			var v structpb.Value
			if err := cfg.UnmarshalTo(&v); err != nil {
				return nil, err
			}
			cluster := v.GetStringValue()
			return filters.FilterFunc(func(s *filters.Stream, next filters.Next) {
				req, _ := http.NewRequestWithContext(s.Request.Context(), "GET", "http://authz/check", nil)
				req.Header.Set("X-User", s.Request.Header.Get("X-User"))
				resp, err := s.Upstreams.RoundTrip(cluster, req)
				if err != nil {
					s.LocalReply(http.StatusForbidden, "authz unavailable", "ext_authz_error")
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					s.LocalReply(http.StatusForbidden, "denied", "ext_authz_denied")
					return
				}
				next(s)
			}), nil
		},
	})
}

func TestFilterCallsUpstreamCluster(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	authz := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-User") != "alice" || r.URL.Path != "/check" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	f := &hcmv3.HttpFilter{Name: "test.authz", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(structpb.NewStringValue("authz-cluster"))}}
	res := basic(port, simpleRoutes("a"), map[string][]string{"a": {backend(t, "a")}, "authz-cluster": {authz}})
	res[resourcev3.ListenerType][0] = listener("l", port, "rc", nil, f)
	h.pushAndWait(t, res)
	if r := get(t, port, "x", "/", "X-User", "alice"); r.echo.Backend != "a" {
		t.Errorf("alice: %d %q", r.code, r.body)
	}
	if r := get(t, port, "x", "/", "X-User", "mallory"); r.code != 403 || r.body != "denied" {
		t.Errorf("mallory: %d %q", r.code, r.body)
	}
}
