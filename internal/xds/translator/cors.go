package translator

import (
	"fmt"
	"strings"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/ir"
)

const corsFilterName = "envoy.filters.http.cors"

// cors follows Envoy Gateway's layout: one enabled, empty Cors entry when
// a route of the HCM has a CORS policy, and the policy itself on each such
// route as a CorsPolicy. A route's policy comes from its Gateway API CORS
// filter (ir.HTTPRoute.CORS) or else from a SecurityPolicy (Security.CORS):
// the filter wins, as in Envoy Gateway.
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     corsFilterName,
		Rank:     RankCORS,
		Listener: corsListenerFilters,
		Route:    corsRouteConfig,
	})
}

func corsListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	if firstRoute(c, func(r *ir.HTTPRoute) bool { return routeCORS(r) != nil }) == nil {
		return nil, nil
	}
	f, err := typedFilter(corsFilterName, &corsv3.Cors{})
	if err != nil {
		return nil, err
	}
	return []*hcmv3.HttpFilter{f}, nil
}

func corsRouteConfig(c *RouteContext) error {
	cr := routeCORS(c.IR)
	if cr == nil {
		return nil
	}
	p := &corsv3.CorsPolicy{
		AllowMethods:                 starOrJoin(cr.AllowMethods),
		AllowHeaders:                 starOrJoin(cr.AllowHeaders),
		ExposeHeaders:                strings.Join(cr.ExposeHeaders, ", "),
		AllowCredentials:             wrapperspb.Bool(cr.AllowCredentials),
		ForwardNotMatchingPreflights: wrapperspb.Bool(false),
	}
	if cr.MaxAge != nil {
		p.MaxAge = *cr.MaxAge
	}
	for _, o := range cr.AllowOrigins {
		m, err := stringMatcher(*o)
		if err != nil {
			return err
		}
		if m == nil {
			return fmt.Errorf("cors: an allowed origin without a value")
		}
		p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, m)
	}
	if err := p.ValidateAll(); err != nil {
		return err
	}
	return c.SetPerFilterConfig(corsFilterName, p)
}

// routeCORS is the policy that applies to a route: its CORS filter's, or
// else its SecurityPolicy's.
func routeCORS(r *ir.HTTPRoute) *ir.CORS {
	if r.CORS != nil {
		return r.CORS
	}
	if r.Security != nil {
		return r.Security.CORS
	}
	return nil
}

// starOrJoin is a list as Envoy reads it: a "*" among others would be a
// literal there, so a list holding "*" becomes "*" alone (Envoy Gateway
// does the same).
func starOrJoin(l []string) string {
	for _, v := range l {
		if v == "*" {
			return "*"
		}
	}
	return strings.Join(l, ", ")
}
