package extension

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// HCMFilterName is the network filter that carries HTTP filters.
const HCMFilterName = "envoy.filters.network.http_connection_manager"

// EditHCM calls fn on every HTTP connection manager of the listener (the
// default filter chain and each filter chain) and stores the result back.
// It reports how many it edited.
func EditHCM(l *listenerv3.Listener, fn func(*hcmv3.HttpConnectionManager) error) (int, error) {
	chains := append([]*listenerv3.FilterChain{}, l.GetFilterChains()...)
	if l.GetDefaultFilterChain() != nil {
		chains = append(chains, l.GetDefaultFilterChain())
	}
	n := 0
	for _, c := range chains {
		for _, f := range c.GetFilters() {
			a := f.GetTypedConfig()
			if f.GetName() != HCMFilterName || a == nil {
				continue
			}
			hcm := &hcmv3.HttpConnectionManager{}
			if err := a.UnmarshalTo(hcm); err != nil {
				return n, fmt.Errorf("listener %s: %w", l.GetName(), err)
			}
			if err := fn(hcm); err != nil {
				return n, err
			}
			na, err := pack(hcm)
			if err != nil {
				return n, err
			}
			f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: na}
			n++
		}
	}
	return n, nil
}

// AddHTTPFilter inserts an HTTP filter with a typed config right before the
// router (the last filter), replacing a filter of the same name.
func AddHTTPFilter(hcm *hcmv3.HttpConnectionManager, name string, config proto.Message) error {
	a, err := pack(config)
	if err != nil {
		return err
	}
	f := &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}
	for i, h := range hcm.HttpFilters {
		if h.GetName() == name {
			hcm.HttpFilters[i] = f
			return nil
		}
	}
	at := len(hcm.HttpFilters)
	if at > 0 && hcm.HttpFilters[at-1].GetName() == "envoy.filters.http.router" {
		at--
	}
	hcm.HttpFilters = append(hcm.HttpFilters[:at], append([]*hcmv3.HttpFilter{f}, hcm.HttpFilters[at:]...)...)
	return nil
}

// pack is anypb.New with deterministic bytes, so that an unchanged listener
// keeps the same bytes and Envoy does not drain it on every push.
func pack(m proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, err
	}
	return a, nil
}
