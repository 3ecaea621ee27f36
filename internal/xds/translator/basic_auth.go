package translator

import (
	"fmt"
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/ir"
)

const basicAuthFilterName = "envoy.filters.http.basic_auth"

// basic_auth follows Envoy Gateway's layout: one disabled HCM entry per
// SecurityPolicy (envoy.filters.http.basic_auth/<policy>), sorted by name,
// and each route of that policy enables it with a BasicAuthPerRoute that
// carries the users again. A route without basic auth never runs it.
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     basicAuthFilterName,
		Rank:     RankBasicAuth,
		Listener: basicAuthListenerFilters,
		Route:    basicAuthRouteConfig,
	})
}

func basicAuthInstanceName(b *ir.BasicAuth) string { return basicAuthFilterName + "/" + b.Name }

func basicAuthListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	byName := map[string]*ir.BasicAuth{}
	for _, l := range c.Listeners {
		for _, r := range l.Routes {
			if r == nil || r.Security == nil || r.Security.BasicAuth == nil {
				continue
			}
			b := r.Security.BasicAuth
			if b.Name == "" || len(b.Users) == 0 {
				return nil, fmt.Errorf("route %s: basic auth without name or users", r.Name)
			}
			if _, ok := byName[b.Name]; !ok {
				byName[b.Name] = b
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*hcmv3.HttpFilter, 0, len(names))
	for _, n := range names {
		b := byName[n]
		cfg := &basicauthv3.BasicAuth{
			Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b.Users}},
		}
		if b.ForwardUsernameHeader != nil {
			cfg.ForwardUsernameHeader = *b.ForwardUsernameHeader
		}
		f, err := disabledFilter(basicAuthInstanceName(b), cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func basicAuthRouteConfig(c *RouteContext) error {
	if c.IR.Security == nil || c.IR.Security.BasicAuth == nil {
		return nil
	}
	b := c.IR.Security.BasicAuth
	return c.SetPerFilterConfig(basicAuthInstanceName(b), &basicauthv3.BasicAuthPerRoute{
		Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b.Users}},
	})
}
