package extauthz

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portico-gw/portico/internal/proxy/filters/filtertest"
)

// authorizer is a real envoy.service.auth.v3 gRPC server whose decision a
// test sets.
type authorizer struct {
	authv3.UnimplementedAuthorizationServer
	mu     sync.Mutex
	decide func(*authv3.CheckRequest) (*authv3.CheckResponse, error)
	last   *authv3.CheckRequest
}

func (a *authorizer) Check(_ context.Context, r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	a.mu.Lock()
	a.last = r
	d := a.decide
	a.mu.Unlock()
	return d(r)
}

func (a *authorizer) request() *authv3.CheckRequest { a.mu.Lock(); defer a.mu.Unlock(); return a.last }

// startAuthorizer serves a on a unix socket, as the OPA sidecar does.
func startAuthorizer(t *testing.T, a *authorizer) string {
	sock := filepath.Join(t.TempDir(), "authz.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	authv3.RegisterAuthorizationServer(s, a)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return "unix://" + sock
}

func allow(hdrs ...*corev3.HeaderValueOption) func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{Status: &status.Status{Code: int32(code.Code_OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: hdrs}}}, nil
	}
}

func grpcConfig(timeout time.Duration) *extauthzv3.ExtAuthz {
	return &extauthzv3.ExtAuthz{
		TransportApiVersion: corev3.ApiVersion_V3,
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "authz", Authority: "opa.default"}},
			Timeout:         durationpb.New(timeout),
		}},
		AllowedHeaders: &matcherv3.ListStringMatcher{Patterns: []*matcherv3.StringMatcher{
			{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "x-jwt-iss"}, IgnoreCase: true}}},
	}
}

func mustCompile(t *testing.T, c *extauthzv3.ExtAuthz) *Filter {
	t.Helper()
	f, err := Compile(FilterName+"/securitypolicy/default/p", c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func send(f *Filter, addr string, r *http.Request) *filtertest.Result {
	return filtertest.Run(f, r, filtertest.Options{
		PerRoute:  map[string]any{f.name: &perRoute{extensions: map[string]string{"route": "r1"}}},
		Upstreams: filtertest.Clusters{"authz": addr},
	})
}

func request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://www.example.com/get?a=1", nil)
	r.Header.Set("X-Jwt-Iss", "https://example.com")
	r.Header.Set("Authorization", "Bearer secret")
	return r
}

func TestGRPCDecisions(t *testing.T) {
	a := &authorizer{}
	addr := startAuthorizer(t, a)
	f := mustCompile(t, grpcConfig(time.Second))

	a.decide = allow(&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-current-user", Value: "user1"}})
	res := send(f, addr, request())
	if !res.Passed || res.Forwarded.Header.Get("x-current-user") != "user1" {
		t.Fatalf("allow: passed=%v %d", res.Passed, res.Code)
	}
	cr := a.request()
	h := cr.GetAttributes().GetRequest().GetHttp()
	if h.GetHeaders()["x-jwt-iss"] != "https://example.com" || h.GetHeaders()["authorization"] != "" {
		t.Fatalf("only allowed headers go to the server: %v", h.GetHeaders())
	}
	if h.GetPath() != "/get?a=1" || h.GetMethod() != "GET" || h.GetHost() != "www.example.com" || h.GetProtocol() != "HTTP/1.1" {
		t.Fatalf("request attributes: %v", h)
	}
	if cr.GetAttributes().GetContextExtensions()["route"] != "r1" {
		t.Fatalf("context extensions: %v", cr.GetAttributes().GetContextExtensions())
	}
	if cr.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress() == "" {
		t.Fatal("no source address")
	}

	a.decide = func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{Status: &status.Status{Code: int32(code.Code_PERMISSION_DENIED)}}, nil
	}
	if res := send(f, addr, request()); res.Passed || res.Code != 403 || res.Body != "" || res.Details != "ext_authz_denied" {
		t.Fatalf("plain denial: %d %q %s", res.Code, res.Body, res.Details)
	}
	a.decide = func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{Status: &status.Status{Code: int32(code.Code_PERMISSION_DENIED)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status:  &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
				Headers: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-reason", Value: "iss"}}},
				Body:    "go away"}}}, nil
	}
	if res := send(f, addr, request()); res.Code != 401 || res.Body != "go away" || res.Header.Get("x-reason") != "iss" {
		t.Fatalf("denial with a response: %d %q %v", res.Code, res.Body, res.Header)
	}
}

func TestGRPCFailures(t *testing.T) {
	a := &authorizer{}
	addr := startAuthorizer(t, a)
	dead := "unix://" + filepath.Join(t.TempDir(), "nobody.sock")
	garbage := garbageServer(t)
	cases := []struct {
		name   string
		addr   string
		decide func(*authv3.CheckRequest) (*authv3.CheckResponse, error)
	}{
		{"down", dead, nil},
		{"slow", addr, func(r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
			time.Sleep(500 * time.Millisecond)
			return allow()(r)
		}},
		{"error status", addr, func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return nil, grpcstatus.Error(grpccodes.Unknown, "undefined decision")
		}},
		{"garbage", garbage, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a.decide = c.decide
			f := mustCompile(t, grpcConfig(100*time.Millisecond))
			if res := send(f, c.addr, request()); res.Passed || res.Code != 403 || res.Details != "ext_authz_error" {
				t.Fatalf("fail closed: %d %s", res.Code, res.Details)
			}
			cfg := grpcConfig(100 * time.Millisecond)
			cfg.StatusOnError = &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable}
			if res := send(mustCompile(t, cfg), c.addr, request()); res.Code != 503 {
				t.Fatalf("status_on_error: %d", res.Code)
			}
			cfg.FailureModeAllow, cfg.FailureModeAllowHeaderAdd = true, true
			res := send(mustCompile(t, cfg), c.addr, request())
			if !res.Passed || res.Forwarded.Header.Get(failureAllowedHeader) != "true" {
				t.Fatalf("failure_mode_allow: passed=%v %d", res.Passed, res.Code)
			}
		})
	}
}

// garbageServer answers every gRPC call with bytes that are no message.
func garbageServer(t *testing.T) string {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		_, _ = w.Write([]byte{0, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		w.Header().Set("Grpc-Status", "0")
	}))
	s.EnableHTTP2 = true
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return "h2c://" + strings.TrimPrefix(s.URL, "http://")
}

func TestBody(t *testing.T) {
	a := &authorizer{decide: allow()}
	addr := startAuthorizer(t, a)
	cfg := grpcConfig(time.Second)
	cfg.WithRequestBody = &extauthzv3.BufferSettings{MaxRequestBytes: 8}
	f := mustCompile(t, cfg)
	r := httptest.NewRequest(http.MethodPost, "http://x/post", strings.NewReader("hello"))
	res := send(f, addr, r)
	if !res.Passed || a.request().GetAttributes().GetRequest().GetHttp().GetBody() != "hello" {
		t.Fatalf("body: %v", a.request().GetAttributes().GetRequest().GetHttp().GetBody())
	}
	if b, _ := io.ReadAll(res.Forwarded.Body); string(b) != "hello" {
		t.Fatalf("upstream body %q", b)
	}
	r = httptest.NewRequest(http.MethodPost, "http://x/post", strings.NewReader("far too long a body"))
	if res := send(f, addr, r); res.Passed || res.Code != 413 {
		t.Fatalf("over max_request_bytes: %d", res.Code)
	}
}

func TestHTTPService(t *testing.T) {
	var seen *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		if r.Header.Get("Authorization") != "Bearer token1" {
			w.Header().Set("X-Why", "no token")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("denied"))
			return
		}
		w.Header().Set("X-Current-User", "user1")
		w.Header().Set("X-Other", "dropped")
	}))
	t.Cleanup(srv.Close)
	cfg := &extauthzv3.ExtAuthz{
		TransportApiVersion: corev3.ApiVersion_V3,
		Services: &extauthzv3.ExtAuthz_HttpService{HttpService: &extauthzv3.HttpService{
			ServerUri:  &corev3.HttpUri{Uri: "http://http-backend.envoy-gateway:80/auth", HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: "authz"}, Timeout: durationpb.New(time.Second)},
			PathPrefix: "/auth",
			AuthorizationResponse: &extauthzv3.AuthorizationResponse{AllowedUpstreamHeaders: &matcherv3.ListStringMatcher{Patterns: []*matcherv3.StringMatcher{
				{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "x-current-user"}, IgnoreCase: true}}}},
		}},
	}
	f := mustCompile(t, cfg)
	r := request()
	r.Header.Set("Authorization", "Bearer token1")
	res := send(f, srv.URL, r)
	if !res.Passed || res.Forwarded.Header.Get("X-Current-User") != "user1" || res.Forwarded.Header.Get("X-Other") != "" {
		t.Fatalf("allow: %v %v", res.Passed, res.Forwarded)
	}
	if seen.URL.Path != "/auth/get" || seen.Header.Get("X-Jwt-Iss") != "" {
		t.Fatalf("the server saw %s %v (default headers only)", seen.URL.Path, seen.Header)
	}
	res = send(f, srv.URL, request())
	if res.Passed || res.Code != 401 || res.Body != "denied" || res.Header.Get("X-Why") != "no token" {
		t.Fatalf("deny: %d %q %v", res.Code, res.Body, res.Header)
	}
	srv.Close()
	if res := send(f, srv.URL, request()); res.Passed || res.Code != 403 {
		t.Fatalf("down: %d", res.Code)
	}
}

func TestDisabledPerRoute(t *testing.T) {
	f := mustCompile(t, grpcConfig(time.Second))
	res := filtertest.Run(f, request(), filtertest.Options{PerRoute: map[string]any{f.name: &perRoute{disabled: true}}})
	if !res.Passed {
		t.Fatal("a disabled route was checked")
	}
}

func TestUnsupportedFieldsAreRejected(t *testing.T) {
	c := grpcConfig(time.Second)
	c.ShadowMode = true
	if _, err := Compile("x", c); err == nil || !strings.Contains(err.Error(), "shadow_mode") {
		t.Fatalf("err = %v", err)
	}
}
