package translator

import (
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

const routerFilterName = "envoy.filters.http.router"

func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name: routerFilterName,
		Rank: RankRouter,
		Listener: func(*ListenerContext) ([]*hcmv3.HttpFilter, error) {
			f, err := routerFilter()
			return []*hcmv3.HttpFilter{f}, err
		},
	})
}

// routerFilter is the terminal router, with Envoy Gateway's
// suppress_envoy_headers.
func routerFilter() (*hcmv3.HttpFilter, error) {
	return typedFilter(routerFilterName, &routerv3.Router{SuppressEnvoyHeaders: true})
}
