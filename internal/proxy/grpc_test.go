package proxy_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthServer is a real gRPC server with the health service, reporting
// service "svc" SERVING (the returned server changes that).
func healthServer(t *testing.T) (net.Listener, *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return ln, hs
}

// A real gRPC client and server through the proxy: unary and server
// streaming over h2c both ways, gRPC status in trailers, and a gRPC-shaped
// local reply when no route matches.
func TestGRPCThroughProxy(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ln, hs := healthServer(t)

	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/grpc.health.v1.Health/"},
			Grpc: &routev3.RouteMatch_GrpcRouteMatchOptions{}}, Action: routeTo("g")}}}}}
	res := basic(port, rc, nil)
	res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType][:0], edsClusterH2("g"))
	res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType][:0], cla("g", ln.Addr().String()))
	h.pushAndWait(t, res)

	conn, err := grpc.NewClient("127.0.0.1:"+itoa(port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli := healthpb.NewHealthClient(conn)
	r, err := cli.Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", r, err)
	}
	_, err = cli.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("gRPC status through the proxy: %v", err)
	}
	// Server streaming: the first message must arrive while the stream is
	// still open (the proxy flushes), then a status change follows.
	w, err := cli.Watch(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := w.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch first: %v %v", m, err)
	}
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_NOT_SERVING)
	if m, err := w.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch update: %v %v", m, err)
	}
	// No route: Envoy answers a gRPC request with UNIMPLEMENTED.
	err = conn.Invoke(ctx, "/other.Service/Method", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("no route for gRPC: %v", err)
	}
	if !strings.Contains(h.log.String(), `"POST /grpc.health.v1.Health/Check HTTP/2.0" 200 - `) {
		t.Errorf("access log:\n%s", h.log.String())
	}
}
