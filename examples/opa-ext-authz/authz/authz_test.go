package authz

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"
)

func guidePolicy(t *testing.T) string {
	b, err := os.ReadFile("../policy.rego")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func check(iss, path string) *authv3.CheckRequest {
	h := map[string]string{}
	if iss != "" {
		h["x-jwt-iss"] = iss
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 5555}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: path, Host: "www.example.com", Headers: h}}}}
}

// serve runs the server on a unix socket and returns a client, as the
// proxy reaches the sidecar.
func serve(t *testing.T, s *Server) authv3.AuthorizationClient {
	sock := filepath.Join(t.TempDir(), "opa.sock")
	l, err := Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func TestGuidePolicy(t *testing.T) {
	s, err := New(context.Background(), Config{Query: "data.envoy.authz.allow",
		Modules: map[string]string{"policy.rego": guidePolicy(t)}, Env: map[string]string{"ALLOWED_ISS": "https://example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, s)
	for _, tc := range []struct {
		iss  string
		want int32
	}{{"https://example.com", 0}, {"https://foo.bar.com", 7}, {"", 7}} {
		resp, err := c.Check(context.Background(), check(tc.iss, "/get"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetStatus().GetCode() != tc.want {
			t.Errorf("iss %q: status %d, want %d", tc.iss, resp.GetStatus().GetCode(), tc.want)
		}
		if tc.want != 0 && resp.GetDeniedResponse() != nil {
			t.Errorf("a boolean denial carries no http response")
		}
	}
}

func TestInputDocument(t *testing.T) {
	req := check("https://example.com", "/a/b%20c?x=1&x=2&y=3")
	req.Attributes.Request.Http.Headers["content-type"] = "application/json"
	req.Attributes.Request.Http.Body = `{"name":"n"}`
	req.Attributes.ContextExtensions = map[string]string{"k": "v"}
	in, err := Input(req, false)
	if err != nil {
		t.Fatal(err)
	}
	// Policies written for the plugin read these paths.
	src := `package t
import rego.v1
ok if {
	input.attributes.request.http.method == "GET"
	input.attributes.request.http.headers["x-jwt-iss"] == "https://example.com"
	input.attributes.source.address.socketAddress.address == "127.0.0.1"
	input.attributes.source.address.socketAddress.portValue == 5555
	input.attributes.contextExtensions.k == "v"
	input.parsed_path == ["a", "b c"]
	input.parsed_query.x == ["1", "2"]
	input.parsed_body.name == "n"
	input.truncated_body == false
	input.version.ext_authz == "v3"
	input.version.encoding == "protojson"
}`
	s, err := New(context.Background(), Config{Query: "data.t.ok", Modules: map[string]string{"t.rego": src}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Decide(context.Background(), in)
	if err != nil || d != true {
		t.Fatalf("decision %v, %v; input %v", d, err, in)
	}
}

func TestDecisions(t *testing.T) {
	cases := []struct {
		name   string
		rule   string
		code   codes.Code // gRPC error; OK when the call answers
		status int32
		http   int
		body   string
	}{
		{"object allow", `allow := {"allowed": true, "headers": {"x-user": "alice"}}`, codes.OK, 0, 0, ""},
		{"object deny", `allow := {"allowed": false, "http_status": 401, "body": "no", "headers": {"x-why": "iss"}}`, codes.OK, 7, 401, "no"},
		{"object without allowed", `allow := {"headers": {}}`, codes.Unknown, 0, 0, ""},
		{"undefined decision", `other := true`, codes.Unknown, 0, 0, ""},
		{"not a boolean or object", `allow := "yes"`, codes.Unknown, 0, 0, ""},
		{"bad status", `allow := {"allowed": false, "http_status": 999}`, codes.Unknown, 0, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(context.Background(), Config{Query: "data.envoy.authz.allow",
				Modules: map[string]string{"p.rego": "package envoy.authz\nimport rego.v1\n" + tc.rule}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := serve(t, s).Check(context.Background(), check("", "/"))
			if grpcstatus.Code(err) != tc.code {
				t.Fatalf("error %v, want code %v", err, tc.code)
			}
			if err != nil {
				return
			}
			if resp.GetStatus().GetCode() != tc.status {
				t.Fatalf("status %d", resp.GetStatus().GetCode())
			}
			if d := resp.GetDeniedResponse(); tc.http != 0 && (int(d.GetStatus().GetCode()) != tc.http || d.GetBody() != tc.body || len(d.GetHeaders()) != 1) {
				t.Fatalf("denied response %v", d)
			}
			if tc.status == 0 && resp.GetOkResponse().GetHeaders()[0].GetHeader().GetValue() != "alice" {
				t.Fatalf("ok response %v", resp.GetOkResponse())
			}
		})
	}
}

func TestBadPolicyFailsAtStart(t *testing.T) {
	if _, err := New(context.Background(), Config{Modules: map[string]string{"p.rego": "package envoy.authz\nallow if {"}}); err == nil {
		t.Fatal("a policy that does not parse was accepted")
	}
}

func TestUnparsableBodyIs400(t *testing.T) {
	s, err := New(context.Background(), Config{Modules: map[string]string{"p.rego": "package envoy.authz\ndefault allow := true"}})
	if err != nil {
		t.Fatal(err)
	}
	req := check("", "/")
	req.Attributes.Request.Http.Headers["content-type"] = "application/json"
	req.Attributes.Request.Http.Body = "{not json"
	resp, err := s.Check(context.Background(), req)
	if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 400 {
		t.Fatalf("%v %v", resp, err)
	}
}

func TestHealth(t *testing.T) {
	s, err := New(context.Background(), Config{Modules: map[string]string{"p.rego": guidePolicy(t)}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() int {
		rec := httptest.NewRecorder()
		s.Health(rec, httptest.NewRequest(http.MethodGet, "/health?bundle=true", nil))
		return rec.Code
	}
	if get() != 500 {
		t.Fatal("healthy before the listener serves")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	for !s.serving.Load() {
		time.Sleep(time.Millisecond)
	}
	if get() != 200 {
		t.Fatal("unhealthy while serving")
	}
	cancel()
	<-done
	if get() != 500 {
		t.Fatal("healthy after stopping")
	}
}
