package proxy_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy"
)

func simpleRoutes(cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{
		Name: "vh", Domains: []string{"*"}, Routes: []*routev3.Route{{Match: prefix("/"), Action: routeTo(cluster)}}}}}
}

func waitNACK(t *testing.T, h *harness, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.p.WaitFor(ctx, func(s proxy.Status) bool { return strings.Contains(s.LastNACK, want) }); err != nil {
		t.Fatalf("no NACK containing %q: %+v", want, h.p.Status())
	}
	// The control plane must see the same error_detail.
	for i := 0; i < 100; i++ {
		for _, n := range h.nacks() {
			if strings.Contains(n, want) {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server saw no error_detail containing %q: %v", want, h.nacks())
	return ""
}

// An unknown filter NACKs the listener by name; the previous config keeps
// serving.
func TestNACKUnknownFilter(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := backend(t, "a")
	good := basic(port, simpleRoutes("a"), map[string][]string{"a": {be}})
	h.pushAndWait(t, good)

	bad := basic(port, simpleRoutes("a"), map[string][]string{"a": {be}})
	unknown := &hcmv3.HttpFilter{Name: "envoy.filters.http.mystery/policy/0", Disabled: true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&structpb.Struct{})}}
	bad[resourcev3.ListenerType][0] = listener("default/eg/http", port, "rc", nil, unknown)
	h.push(t, bad)
	msg := waitNACK(t, h, `http filter "envoy.filters.http.mystery/policy/0": unknown filter type type.googleapis.com/google.protobuf.Struct`)
	if !strings.HasPrefix(msg, "LDS version 2 rejected") {
		t.Errorf("error_detail = %q", msg)
	}
	if res := get(t, port, "x", "/"); res.echo.Backend != "a" {
		t.Fatalf("previous config stopped serving: %d %q", res.code, res.body)
	}
	if v := h.p.Status().Versions["LDS"]; v != "1" {
		t.Errorf("accepted LDS version = %q, want 1", v)
	}
}

// Unknown typed_per_filter_config and unsupported fields NACK with the name.
func TestNACKRouteConfig(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := backend(t, "a")
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))

	rc := simpleRoutes("a")
	rc.VirtualHosts[0].Routes[0].TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.lua/x": mustAny(&structpb.Struct{})}
	h.push(t, basic(port, rc, map[string][]string{"a": {be}}))
	waitNACK(t, h, "typed_per_filter_config[envoy.filters.http.lua/x]: unknown per-route config type type.googleapis.com/google.protobuf.Struct")

	rc = simpleRoutes("a")
	rc.VirtualHosts[0].Routes[0].GetRoute().RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{Cluster: "a", HostRewriteLiteral: "h"}}
	h.push(t, basic(port, rc, map[string][]string{"a": {be}}))
	waitNACK(t, h, "request_mirror_policies[0]: unsupported field(s) host_rewrite_literal")
	if res := get(t, port, "x", "/"); res.echo.Backend != "a" {
		t.Fatalf("previous config stopped serving: %d %q", res.code, res.body)
	}
}

// A port that cannot be bound NACKs the LDS update; the old one keeps serving.
func TestNACKBindFailure(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := backend(t, "a")
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := uint32(busy.Addr().(*net.TCPAddr).Port)
	h.push(t, basic(busyPort, simpleRoutes("a"), map[string][]string{"a": {be}}))
	waitNACK(t, h, "cannot bind listener address 127.0.0.1:"+itoa(busyPort))
	if res := get(t, port, "x", "/"); res.echo.Backend != "a" {
		t.Fatalf("previous listener stopped: %d", res.code)
	}
}
