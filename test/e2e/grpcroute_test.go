package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/infra/host"
)

// healthBackend is a real gRPC server whose health service reports svc as
// st, so a test knows which backend answered.
func healthBackend(t *testing.T, st healthpb.HealthCheckResponse_ServingStatus) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("svc", st)
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return ln.Addr().(*net.TCPAddr).Port
}

// grpcRoutesYAML: a listener for gRPC and one that allows HTTPRoutes only.
// Health/Check with header x-backend: b goes to backend b; any method
// named Check (a method-only match) goes to a; any other method has no
// route. Three bad routes: one on the HTTPRoute-only
// listener, one to a missing Service, one with a filter Portico does not
// support on a GRPCRoute.
func grpcRoutesYAML(gwPort, httpPort, a, b int) string {
	return classAndServices(map[string]int{"grpc-a": a, "grpc-b": b}) + fmt.Sprintf(`---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners:
    - {name: grpc, protocol: HTTP, port: %d}
    - name: http-only
      protocol: HTTP
      port: %d
      allowedRoutes: {kinds: [{kind: HTTPRoute}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: health, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: grpc}]
  rules:
    - matches:
        - method: {service: grpc.health.v1.Health, method: Check}
          headers: [{name: x-backend, value: b}]
      backendRefs: [{name: grpc-b, port: %d}]
    - matches:
        - method: {method: Check}
      backendRefs: [{name: grpc-a, port: %d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: not-allowed, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: http-only}]
  rules:
    - backendRefs: [{name: grpc-a, port: %d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: missing, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: grpc}]
  rules:
    - matches: [{method: {service: missing.Svc}}]
      backendRefs: [{name: nowhere, port: 9000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: extension, namespace: default}
spec:
  parentRefs: [{name: eg, sectionName: grpc}]
  rules:
    - matches: [{method: {service: ext.Svc}}]
      filters: [{type: ExtensionRef, extensionRef: {group: example.com, kind: Thing, name: t}}]
      backendRefs: [{name: grpc-a, port: %d}]
`, gwPort, httpPort, b, a, a, a)
}

// gatewayConn is a plaintext gRPC connection to the gateway port gw, and a
// 10 s context for its calls; both end with the test.
func gatewayConn(t *testing.T, gw int) (*grpc.ClientConn, context.Context) {
	t.Helper()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", gw), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return conn, ctx
}

func TestGRPCRouteEndToEnd(t *testing.T) {
	a := healthBackend(t, healthpb.HealthCheckResponse_SERVING)
	b := healthBackend(t, healthpb.HealthCheckResponse_NOT_SERVING)
	gw, httpPort := freePort(t), freePort(t)
	e := start(t, map[string]string{"grpc.yaml": grpcRoutesYAML(gw, httpPort, a, b)}, gw)

	conn, ctx := gatewayConn(t, gw)
	cli := healthpb.NewHealthClient(conn)

	t.Run("method match picks the backend", func(t *testing.T) {
		r, err := cli.Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check to a: %v %v", r, err)
		}
		r, err = cli.Check(withHeader(ctx, "x-backend", "b"), &healthpb.HealthCheckRequest{Service: "svc"})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("Check with x-backend: b: %v %v", r, err)
		}
		_, err = cli.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("the backend's own gRPC status must come through: %v", err)
		}
		// Method-only match: another service's Check reaches backend a,
		// whose gRPC server (not the proxy) says it has no such service.
		err = conn.Invoke(ctx, "/other.Svc/Check", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
		if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), "other.Svc") {
			t.Fatalf("/other.Svc/Check should reach backend a: %v", err)
		}
	})
	t.Run("no route is Unimplemented", func(t *testing.T) {
		stream, err := cli.Watch(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.Unimplemented || status.Convert(err).Message() != "" {
			t.Fatalf("Watch has no route: want the proxy's Unimplemented (404 -> grpc-status 12), got %v", err)
		}
	})
	t.Run("bad routes answer with an error status", func(t *testing.T) {
		for _, method := range []string{"/missing.Svc/Get", "/ext.Svc/Get"} {
			err := conn.Invoke(ctx, method, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
			if status.Code(err) != codes.Unknown { // a 500 direct response
				t.Errorf("%s: want Unknown (500), got %v", method, err)
			}
		}
	})
	t.Run("grpc-web binary", func(t *testing.T) {
		body, trailers, _ := grpcWeb(t, gw, "application/grpc-web+proto", "", &healthpb.HealthCheckRequest{Service: "svc"})
		var r healthpb.HealthCheckResponse
		if err := proto.Unmarshal(body, &r); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("gRPC-Web answer: %v %v", &r, err)
		}
		if !strings.Contains(trailers, "grpc-status:0\r\n") {
			t.Fatalf("trailers frame %q has no grpc-status:0", trailers)
		}
	})
	t.Run("grpc-web text", func(t *testing.T) {
		body, trailers, _ := grpcWeb(t, gw, "application/grpc-web-text", "application/grpc-web-text", &healthpb.HealthCheckRequest{Service: "svc"})
		var r healthpb.HealthCheckResponse
		if err := proto.Unmarshal(body, &r); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING || !strings.Contains(trailers, "grpc-status:0\r\n") {
			t.Fatalf("gRPC-Web text answer: %v %v, trailers %q", &r, err, trailers)
		}
	})
	t.Run("grpc-web trailers-only error", func(t *testing.T) {
		// The server answers NOT_FOUND in its headers alone: as with
		// Envoy, the status stays in the response headers, no frame.
		body, trailers, h := grpcWeb(t, gw, "application/grpc-web", "", &healthpb.HealthCheckRequest{Service: "unknown"})
		if len(body) != 0 || trailers != "" || h.Get("Grpc-Status") != "5" {
			t.Fatalf("gRPC-Web error: body %q trailers %q grpc-status %q, want 5 in the headers", body, trailers, h.Get("Grpc-Status"))
		}
	})
	t.Run("grpc-web without a route", func(t *testing.T) {
		// As Envoy: the 404 local reply is not gRPC (a gRPC-Web request is
		// not a gRPC request), so grpc_web keeps the status and adds
		// grpc-status 12 (UNIMPLEMENTED), with no body.
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/grpc.health.v1.Health/Watch", gw), strings.NewReader(""))
		req.Header.Set("Content-Type", "application/grpc-web+proto")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Grpc-Status") != "12" || len(b) != 0 ||
			resp.Header.Get("Content-Type") != "application/grpc-web+proto" {
			t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, b)
		}
	})
	t.Run("statuses", func(t *testing.T) {
		want := map[string][]string{
			"health":      {"Accepted=True/Accepted", "ResolvedRefs=True/ResolvedRefs"},
			"not-allowed": {"Accepted=False/NotAllowedByListeners"},
			"missing":     {"Accepted=True/Accepted", "ResolvedRefs=False/BackendNotFound"},
			// its one rule cannot be served: none is left (GEP-1364)
			"extension": {"Accepted=False/UnsupportedValue"},
		}
		got := map[string][]string{}
		for _, o := range e.statusList().Items {
			if o.Kind != "GRPCRoute" {
				continue
			}
			name := fmt.Sprint(o.Metadata["name"])
			parents, _ := o.Status["parents"].([]any)
			for _, p := range parents {
				conds, _ := p.(map[string]any)["conditions"].([]any)
				for _, c := range conds {
					m := c.(map[string]any)
					got[name] = append(got[name], fmt.Sprintf("%v=%v/%v", m["type"], m["status"], m["reason"]))
				}
			}
		}
		for name, w := range want {
			for _, c := range w {
				if !slices.Contains(got[name], c) {
					t.Errorf("GRPCRoute %s: want %s in %v", name, c, got[name])
				}
			}
		}
	})
}

func withHeader(ctx context.Context, k, v string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, k, v)
}

// grpcWeb sends one gRPC-Web call over HTTP/1.1, built by hand, and
// returns the message, the trailers frame's text and the headers.
func grpcWeb(t *testing.T, gw int, contentType, accept string, m proto.Message) ([]byte, string, http.Header) {
	t.Helper()
	msg, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	frame := append([]byte{0, 0, 0, 0, 0}, msg...)
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	text := strings.HasPrefix(contentType, "application/grpc-web-text")
	if text {
		frame = []byte(base64.StdEncoding.EncodeToString(frame))
	}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/grpc.health.v1.Health/Check", gw), bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Grpc-Web", "1")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	wantCT := "application/grpc-web+proto"
	if text {
		wantCT = "application/grpc-web-text+proto"
		if raw, err = decodeTextFrames(raw); err != nil {
			t.Fatalf("response is not base64: %v", err)
		}
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != wantCT || resp.ProtoMajor != 1 {
		t.Fatalf("gRPC-Web response: %s %d %q", resp.Proto, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var body []byte
	trailers := ""
	for len(raw) >= 5 {
		n := int(binary.BigEndian.Uint32(raw[1:5]))
		if len(raw) < 5+n {
			t.Fatalf("truncated frame in %q", raw)
		}
		if raw[0]&0x80 != 0 {
			trailers += string(raw[5 : 5+n])
		} else {
			body = append(body, raw[5:5+n]...)
		}
		raw = raw[5+n:]
	}
	if len(raw) != 0 {
		t.Fatalf("bytes after the last frame: %q", raw)
	}
	return body, trailers, resp.Header
}

// decodeTextFrames decodes base64 that may be padded at every frame.
func decodeTextFrames(b []byte) ([]byte, error) {
	var out []byte
	for len(b) > 0 {
		end := len(b)
		if i := bytes.IndexByte(b, '='); i >= 0 {
			end = i
			for end < len(b) && b[end] == '=' {
				end++
			}
		}
		d, err := base64.StdEncoding.DecodeString(string(b[:end]))
		if err != nil {
			return nil, err
		}
		out, b = append(out, d...), b[end:]
	}
	return out, nil
}

// With the in-process data plane, grpc_stats' counters are on the admin
// server's /metrics, under their Envoy names.
func TestGRPCStatsOnMetrics(t *testing.T) {
	a := healthBackend(t, healthpb.HealthCheckResponse_SERVING)
	b := healthBackend(t, healthpb.HealthCheckResponse_NOT_SERVING)
	gw, httpPort := freePort(t), freePort(t)
	e := startDataPlane(t, host.InProcess, nil, map[string]string{"grpc.yaml": grpcRoutesYAML(gw, httpPort, a, b)}, gw)
	conn, ctx := gatewayConn(t, gw)
	cli := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"svc", "svc", "unknown"} {
		_, _ = cli.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
	}
	_, body := e.admin("/metrics")
	p := `portico_proxy_counter{fleet="default/eg",name="cluster.grpcroute/default/health/rule/1.grpc.grpc.health.v1.Health.Check.`
	for _, want := range []string{p + `success"} 2`, p + `failure"} 1`, p + `total"} 3`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %s; its proxy counters:\n%s", want, grepLines(string(body), "portico_proxy_counter"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
