package translator

import (
	"slices"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/ir"
)

func names(fs []*hcmv3.HttpFilter) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.GetName())
	}
	return out
}

func TestApplyFilterOrder(t *testing.T) {
	mk := func(ns ...string) []*hcmv3.HttpFilter {
		var fs []*hcmv3.HttpFilter
		for _, n := range ns {
			fs = append(fs, &hcmv3.HttpFilter{Name: n})
		}
		return fs
	}
	s := func(v string) *string { return &v }
	in := mk("envoy.filters.http.basic_auth/p", "envoy.filters.http.cors", "envoy.filters.http.jwt_authn",
		"envoy.filters.http.wasm/p/0", "envoy.filters.http.wasm/p/1", routerFilterName)
	// The corpus custom-filter-order case: wasm before jwt_authn, cors after basic_auth.
	got := names(applyFilterOrder(in, []ir.FilterPosition{
		{Name: "envoy.filters.http.wasm", Before: s("envoy.filters.http.jwt_authn")},
		{Name: "envoy.filters.http.cors", After: s("envoy.filters.http.basic_auth")},
	}))
	want := []string{"envoy.filters.http.basic_auth/p", "envoy.filters.http.cors", "envoy.filters.http.wasm/p/0",
		"envoy.filters.http.wasm/p/1", "envoy.filters.http.jwt_authn", routerFilterName}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Moving after the last filter keeps the router last; unknown targets change nothing.
	got = names(applyFilterOrder(mk("envoy.filters.http.cors", "envoy.filters.http.jwt_authn", routerFilterName), []ir.FilterPosition{
		{Name: "envoy.filters.http.cors", After: s("envoy.filters.http.jwt_authn")},
		{Name: "envoy.filters.http.jwt_authn", Before: s("envoy.filters.http.missing")},
	}))
	if want := []string{"envoy.filters.http.jwt_authn", "envoy.filters.http.cors", routerFilterName}; !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestRegistryOrdersByRank(t *testing.T) {
	fs := buildHTTPFilters(&ListenerContext{Xds: &ir.Xds{}, Listeners: []*ir.HTTPListener{{IsHTTP2: true}}, Sink: newSink()}, &errs{})
	want := []string{"envoy.filters.http.grpc_web", "envoy.filters.http.grpc_stats", routerFilterName}
	if got := names(fs); !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}
