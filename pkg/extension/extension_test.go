package extension

import (
	"context"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "github.com/portico-gw/portico/proto/extension"
)

func listener(t *testing.T) *listenerv3.Listener {
	t.Helper()
	r, _ := anypb.New(&routerv3.Router{})
	h, _ := anypb.New(&hcmv3.HttpConnectionManager{StatPrefix: "x", HttpFilters: []*hcmv3.HttpFilter{
		{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: r}},
	}})
	chain := func() *listenerv3.FilterChain {
		return &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{Name: HCMFilterName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: h}}}}
	}
	return &listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{chain()}, DefaultFilterChain: chain()}
}

func TestEditHCM(t *testing.T) {
	l := listener(t)
	n, err := EditHCM(l, func(h *hcmv3.HttpConnectionManager) error {
		if err := AddHTTPFilter(h, "a", &emptypb.Empty{}); err != nil {
			return err
		}
		return AddHTTPFilter(h, "a", &emptypb.Empty{}) // replaces, no duplicate
	})
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	_, _ = EditHCM(l, func(h *hcmv3.HttpConnectionManager) error {
		if len(h.HttpFilters) != 2 || h.HttpFilters[0].Name != "a" || h.HttpFilters[1].Name != "envoy.filters.http.router" {
			t.Errorf("filters %v", h.HttpFilters)
		}
		return nil
	})
}

func TestDecode(t *testing.T) {
	type policy struct {
		Object
		Spec struct {
			Username string `json:"username"`
		} `json:"spec"`
	}
	rs := []*pb.ExtensionResource{
		{UnstructuredBytes: []byte(`{"apiVersion":"a/v1","kind":"P","metadata":{"name":"p1"},"spec":{"username":"u"}}`)},
		{UnstructuredBytes: []byte(`{"apiVersion":"a/v1","kind":"Other","metadata":{"name":"o"}}`)},
	}
	ps, err := DecodeKind[policy](rs, "a/v1", "P")
	if err != nil || len(ps) != 1 || ps[0].Metadata.Name != "p1" || ps[0].Spec.Username != "u" {
		t.Fatalf("%+v %v", ps, err)
	}
	if _, err := Decode[policy](&pb.ExtensionResource{UnstructuredBytes: []byte("{")}); err == nil {
		t.Error("bad JSON decoded")
	}
}

func TestBaseAnswersNoChange(t *testing.T) {
	var b Base
	if r, err := b.PostHTTPListenerModify(context.Background(), &pb.PostHTTPListenerModifyRequest{Listener: &listenerv3.Listener{Name: "x"}}); err != nil || r.GetListener() != nil {
		t.Errorf("%v %v", r, err)
	}
	if r, err := b.PostTranslateModify(context.Background(), &pb.PostTranslateModifyRequest{}); err != nil || len(r.GetClusters()) != 0 {
		t.Errorf("%v %v", r, err)
	}
}
