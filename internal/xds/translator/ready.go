package translator

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/ir"
)

// readyListener is Envoy Gateway's readiness listener: the health_check
// filter answers r.Path, anything else gets a 500, and it bypasses the
// overload manager.
func readyListener(r *ir.ReadyListener) (*listenerv3.Listener, error) {
	hc, err := healthCheckFilter(r.Path)
	if err != nil {
		return nil, err
	}
	router, err := routerFilter()
	if err != nil {
		return nil, err
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:  "eg-ready-http",
		HttpFilters: []*hcmv3.HttpFilter{hc, router},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: "ready_route",
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    "ready_route",
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 500}},
				}},
			}},
		}},
	}
	chain := hcmFilterChain("", hcm)
	return &listenerv3.Listener{
		Name:                  readyListenerName(r),
		Address:               socketAddress(r.Address, r.Port),
		BypassOverloadManager: true,
		FilterChains:          []*listenerv3.FilterChain{chain},
	}, nil
}
