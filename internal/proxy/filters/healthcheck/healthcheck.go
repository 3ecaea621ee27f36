// Package healthcheck is Envoy's envoy.filters.http.health_check for the
// built-in proxy.
package healthcheck

import (
	"fmt"
	"net/http"

	hcv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/match"
)

// health_check answers Envoy Gateway's readiness probe (/ready) itself when
// pass_through_mode is false: 200 while the proxy serves, 503 while it drains.
// Pass-through mode (which forwards to the upstream and caches its answer) is
// rejected: it needs cluster health bookkeeping the proxy does not do yet.
func init() {
	filters.Register(&filters.Factory{
		TypeURL: filters.TypeURL("envoy.extensions.filters.http.health_check.v3.HealthCheck"),
		New: func(name string, cfg *anypb.Any, bc filters.BuildContext) (filters.Filter, error) {
			var hc hcv3.HealthCheck
			if err := cfg.UnmarshalTo(&hc); err != nil {
				return nil, fmt.Errorf("health_check %q: %v", name, err)
			}
			if hc.GetPassThroughMode() == nil {
				return nil, fmt.Errorf("health_check %q: pass_through_mode is required", name)
			}
			if hc.GetPassThroughMode().GetValue() {
				return nil, fmt.Errorf("health_check %q: pass_through_mode true is not supported", name)
			}
			if len(hc.GetClusterMinHealthyPercentages()) > 0 {
				return nil, fmt.Errorf("health_check %q: cluster_min_healthy_percentages is not supported", name)
			}
			var ms []*match.Header
			for _, h := range hc.GetHeaders() {
				m, err := match.CompileHeader(h)
				if err != nil {
					return nil, fmt.Errorf("health_check %q: %v", name, err)
				}
				ms = append(ms, m)
			}
			serving := bc.Serving
			return filters.FilterFunc(func(s *filters.Stream, next filters.Next) {
				for _, m := range ms {
					if !m.Match(s.Request) {
						next(s)
						return
					}
				}
				if serving != nil && !serving() {
					s.LocalReply(http.StatusServiceUnavailable, "", "health_check_failed")
					return
				}
				// Envoy answers with a local reply, so local_reply_config
				// mappers see it too.
				s.LocalReply(http.StatusOK, "", "health_check_ok")
			}), nil
		},
	})
}
