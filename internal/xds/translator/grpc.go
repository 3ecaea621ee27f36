package translator

import (
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	grpcwebv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/ir"
)

// grpc_web and grpc_stats are added to listeners that serve gRPC routes
// (IR IsHTTP2), as Envoy Gateway does.

func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name: "envoy.filters.http.grpc_web",
		Rank: RankGRPCWeb,
		Listener: func(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
			if !anyHTTP2(c.Listeners) {
				return nil, nil
			}
			f, err := typedFilter("envoy.filters.http.grpc_web", &grpcwebv3.GrpcWeb{})
			return []*hcmv3.HttpFilter{f}, err
		},
	})
	RegisterHTTPFilter(HTTPFilter{
		Name: "envoy.filters.http.grpc_stats",
		Rank: RankGRPCStats,
		Listener: func(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
			if !anyHTTP2(c.Listeners) {
				return nil, nil
			}
			f, err := typedFilter("envoy.filters.http.grpc_stats", &grpcstatsv3.FilterConfig{
				EmitFilterState: true,
				PerMethodStatSpecifier: &grpcstatsv3.FilterConfig_StatsForAllMethods{
					StatsForAllMethods: wrapBool(true),
				},
			})
			return []*hcmv3.HttpFilter{f}, err
		},
	})
}

func anyHTTP2(ls []*ir.HTTPListener) bool {
	for _, l := range ls {
		if l.IsHTTP2 {
			return true
		}
	}
	return false
}
