package translator

import (
	"fmt"
	"sort"

	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/ir"
)

const apiKeyAuthFilterName = "envoy.filters.http.api_key_auth"

// RankAPIKeyAuth is api_key_auth's place in Envoy Gateway's order.
const RankAPIKeyAuth = 7

// api_key_auth follows Envoy Gateway's layout: one disabled, empty HCM
// entry, and on each route that uses it an ApiKeyAuthPerRoute with the
// policy's credentials, key sources and forwarding.
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     apiKeyAuthFilterName,
		Rank:     RankAPIKeyAuth,
		Listener: apiKeyAuthListenerFilters,
		Route:    apiKeyAuthRouteConfig,
	})
}

func apiKeyAuthListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	if firstRoute(c, func(r *ir.HTTPRoute) bool { return r.Security != nil && r.Security.APIKeyAuth != nil }) == nil {
		return nil, nil
	}
	f, err := disabledFilter(apiKeyAuthFilterName, &apikeyv3.ApiKeyAuth{})
	if err != nil {
		return nil, err
	}
	return []*hcmv3.HttpFilter{f}, nil
}

func apiKeyAuthRouteConfig(c *RouteContext) error {
	if c.IR.Security == nil || c.IR.Security.APIKeyAuth == nil {
		return nil
	}
	a := c.IR.Security.APIKeyAuth
	pr := &apikeyv3.ApiKeyAuthPerRoute{}
	clients := make([]string, 0, len(a.Credentials))
	for id := range a.Credentials {
		clients = append(clients, id)
	}
	sort.Strings(clients)
	for _, id := range clients {
		pr.Credentials = append(pr.Credentials, &apikeyv3.Credential{Key: string(a.Credentials[id]), Client: id})
	}
	for _, e := range a.ExtractFrom {
		for _, h := range e.Headers {
			pr.KeySources = append(pr.KeySources, &apikeyv3.KeySource{Header: h})
		}
		for _, q := range e.Params {
			pr.KeySources = append(pr.KeySources, &apikeyv3.KeySource{Query: q})
		}
		for _, ck := range e.Cookies {
			pr.KeySources = append(pr.KeySources, &apikeyv3.KeySource{Cookie: ck})
		}
	}
	if a.ForwardClientIDHeader != nil || (a.Sanitize != nil && *a.Sanitize) {
		pr.Forwarding = &apikeyv3.Forwarding{HideCredentials: a.Sanitize != nil && *a.Sanitize}
		if a.ForwardClientIDHeader != nil {
			pr.Forwarding.Header = *a.ForwardClientIDHeader
		}
	}
	if err := pr.ValidateAll(); err != nil {
		return fmt.Errorf("api key auth %s: %v", a.Name, err)
	}
	return c.SetPerFilterConfig(apiKeyAuthFilterName, pr)
}
