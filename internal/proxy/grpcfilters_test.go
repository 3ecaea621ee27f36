package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	grpcwebv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The listener Envoy Gateway emits when a GRPCRoute attaches (grpc_web,
// grpc_stats with emit_filter_state and stats_for_all_methods, router) is
// accepted, serves gRPC and gRPC-Web, and counts calls per method.
func TestGRPCWebAndStatsFilters(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ln, _ := healthServer(t)

	web := &hcmv3.HttpFilter{Name: "envoy.filters.http.grpc_web", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&grpcwebv3.GrpcWeb{})}}
	st := &hcmv3.HttpFilter{Name: "envoy.filters.http.grpc_stats", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&grpcstatsv3.FilterConfig{
		EmitFilterState: true, PerMethodStatSpecifier: &grpcstatsv3.FilterConfig_StatsForAllMethods{StatsForAllMethods: wrapperspb.Bool(true)}})}}
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/grpc.health.v1.Health/Check"}},
			Action: routeTo("grpcroute/default/health/rule/0")}}}}}
	res := basic(port, rc, nil)
	res[resourcev3.ListenerType][0] = listener("default/eg/grpc", port, "rc", nil, web, st)
	res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType][:0], edsClusterH2("grpcroute/default/health/rule/0"))
	res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType][:0], cla("grpcroute/default/health/rule/0", ln.Addr().String()))
	h.pushAndWait(t, res)

	conn, err := grpc.NewClient("127.0.0.1:"+itoa(port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli := healthpb.NewHealthClient(conn)
	if r, err := cli.Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", r, err)
	}
	if _, err := cli.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("Check nope: %v", err)
	}
	// gRPC-Web over HTTP/1.1: HealthCheckRequest{service: "svc"}.
	resp, err := http.Post("http://127.0.0.1:"+itoa(port)+"/grpc.health.v1.Health/Check", "application/grpc-web+proto",
		bytes.NewReader([]byte{0, 0, 0, 0, 5, 0x0a, 3, 's', 'v', 'c'}))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := append([]byte{0, 0, 0, 0, 2, 0x08, 1, 0x80, 0, 0, 0, 30}, "grpc-status:0\r\ngrpc-message:\r\n"...)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/grpc-web+proto" || !bytes.Equal(body, want) {
		t.Fatalf("gRPC-Web: %d %v %q, want %q", resp.StatusCode, resp.Header, body, want)
	}

	p := "cluster.grpcroute/default/health/rule/0.grpc.grpc.health.v1.Health.Check."
	got := map[string]int64{}
	for _, c := range h.p.Stats() {
		got[c.Name] = c.Value
	}
	for name, v := range map[string]int64{p + "total": 3, p + "success": 2, p + "failure": 1,
		p + "request_message_count": 3, p + "response_message_count": 2} {
		if got[name] != v {
			t.Errorf("%s = %d, want %d; all: %v", name, got[name], v, got)
		}
	}
}
