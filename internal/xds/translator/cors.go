package translator

import (
	"fmt"
	"strings"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const corsFilterName = "envoy.filters.http.cors"

// cors follows Envoy Gateway's layout: one enabled, empty Cors entry when
// a route of the HCM has a CORS policy, and the policy itself on each such
// route as a CorsPolicy.
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     corsFilterName,
		Rank:     RankCORS,
		Listener: corsListenerFilters,
		Route:    corsRouteConfig,
	})
}

func corsListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	for _, l := range c.Listeners {
		for _, r := range l.Routes {
			if r != nil && r.Security != nil && r.Security.CORS != nil {
				f, err := typedFilter(corsFilterName, &corsv3.Cors{})
				if err != nil {
					return nil, err
				}
				return []*hcmv3.HttpFilter{f}, nil
			}
		}
	}
	return nil, nil
}

func corsRouteConfig(c *RouteContext) error {
	if c.IR.Security == nil || c.IR.Security.CORS == nil {
		return nil
	}
	cr := c.IR.Security.CORS
	p := &corsv3.CorsPolicy{
		AllowMethods:                 strings.Join(cr.AllowMethods, ", "),
		AllowHeaders:                 strings.Join(cr.AllowHeaders, ", "),
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
