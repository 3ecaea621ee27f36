package hcm

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// The router is required: an HCM whose only filter is an optional unknown
// one (skipped) has none, and one with the router compiles without running
// it as a filter.
func TestCompileHCMRouter(t *testing.T) {
	unknown := &hcmv3.HttpFilter{Name: "x", IsOptional: true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/unknown.Filter"}}}
	router, err := anypb.New(&routerv3.Router{SuppressEnvoyHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	rds := &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "rc",
		ConfigSource: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}}
	if _, _, err := Compile(&hcmv3.HttpConnectionManager{RouteSpecifier: rds, HttpFilters: []*hcmv3.HttpFilter{unknown}},
		filters.BuildContext{}); err == nil || !strings.Contains(err.Error(), "the router is required") {
		t.Errorf("no router: %v", err)
	}
	hc, _, err := Compile(&hcmv3.HttpConnectionManager{RouteSpecifier: rds, HttpFilters: []*hcmv3.HttpFilter{unknown,
		{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}}}, filters.BuildContext{})
	if err != nil || len(hc.filters) != 0 || !hc.suppressEnvoy {
		t.Errorf("router only: err %v, filters %d, suppressEnvoy %v", err, len(hc.filters), hc != nil && hc.suppressEnvoy)
	}
}
