package translator

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	healthcheckv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

const healthCheckFilterName = "envoy.filters.http.health_check"

// healthCheckFilter answers GET path itself (no pass-through); it is only
// used by the ready listener, which builds its HCM inline rather than via
// the registry.
func healthCheckFilter(path string) (*hcmv3.HttpFilter, error) {
	return typedFilter(healthCheckFilterName, &healthcheckv3.HealthCheck{
		PassThroughMode: wrapBool(false),
		Headers: []*routev3.HeaderMatcher{{
			Name: ":path",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
				StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: path}},
			},
		}},
	})
}
