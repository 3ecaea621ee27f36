package filters

import (
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// The router filter only marks the end of the chain: the HCM passes the
// proxy's forwarding logic as the final next, so the router's filter here
// just calls it. Router options that change behaviour are rejected so that
// they are never silently ignored.
func init() {
	Register(&Factory{
		TypeURL:  TypeURL("envoy.extensions.filters.http.router.v3.Router"),
		Terminal: true,
		New: func(name string, cfg *anypb.Any, _ BuildContext) (Filter, error) {
			var r routerv3.Router
			if err := cfg.UnmarshalTo(&r); err != nil {
				return nil, errf("router %q: %v", name, err)
			}
			// dynamic_stats and start_child_span only affect stats and
			// tracing; suppress_envoy_headers is honoured by the HCM.
			if len(r.GetUpstreamHttpFilters()) > 0 {
				return nil, errf("router %q: upstream_http_filters are not supported", name)
			}
			if r.GetRespectExpectedRqTimeout() {
				return nil, errf("router %q: respect_expected_rq_timeout is not supported", name)
			}
			return &Router{SuppressEnvoyHeaders: r.GetSuppressEnvoyHeaders()}, nil
		},
	})
}

// Router is the router filter instance. The HCM reads its options; Serve
// hands over to the forwarding logic passed as next.
type Router struct {
	// SuppressEnvoyHeaders stops the router adding x-envoy-* headers
	// (upstream service time, expected timeout, original path).
	SuppressEnvoyHeaders bool
}

// Serve continues to the proxy's forwarding logic.
func (r *Router) Serve(s *Stream, next Next) { next(s) }
