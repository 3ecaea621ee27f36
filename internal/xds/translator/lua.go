package translator

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	luav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/ir"
)

const luaFilterName = "envoy.filters.http.lua"

// Lua filters follow Envoy Gateway's layout: every script used by a route of
// the HCM is one HCM entry named envoy.filters.http.lua/<IR name>, added
// disabled, and each route that uses it turns it on in its
// typed_per_filter_config. One script therefore compiles once per listener
// however many routes share it, and a route that does not use it never runs
// it.
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     luaFilterName,
		Rank:     RankLua,
		Listener: luaListenerFilters,
		Route:    luaRouteConfig,
	})
}

func luaInstanceName(l *ir.Lua) string { return luaFilterName + "/" + l.Name }

// luaListenerFilters lists the distinct scripts of the HCM's routes, each
// an HCM entry added disabled.
func luaListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	return extensionFilters(c, func(e *ir.EnvoyExtensionFeatures) []ir.Lua { return e.Luas },
		func(l *ir.Lua) string { return l.Name },
		func(r *ir.HTTPRoute, lua *ir.Lua) (*hcmv3.HttpFilter, error) {
			if lua.Name == "" || lua.Code == nil {
				return nil, fmt.Errorf("route %s: lua filter without name or code", r.Name)
			}
			return disabledFilter(luaInstanceName(lua), &luav3.Lua{
				DefaultSourceCode: &corev3.DataSource{
					Specifier: &corev3.DataSource_InlineString{InlineString: *lua.Code},
				},
			})
		})
}

// luaRouteConfig enables the route's scripts. Without a filter context the
// entry is an empty FilterConfig (Envoy Gateway's "just enable it"); with
// one it is a LuaPerRoute carrying the context, which enables the filter
// too.
func luaRouteConfig(c *RouteContext) error {
	if c.IR.EnvoyExtensions == nil {
		return nil
	}
	for i := range c.IR.EnvoyExtensions.Luas {
		lua := &c.IR.EnvoyExtensions.Luas[i]
		if len(lua.FilterContext) > 0 {
			s, err := structpb.NewStruct(lua.FilterContext)
			if err != nil {
				return fmt.Errorf("lua %s: filterContext: %v", lua.Name, err)
			}
			// Deterministic: a Struct is a map, and the bytes of the Any must
			// not change from one translation to the next (snapshot churn).
			a := &anypb.Any{}
			if err := anypb.MarshalFrom(a, &luav3.LuaPerRoute{FilterContext: s}, proto.MarshalOptions{Deterministic: true}); err != nil {
				return err
			}
			if c.Route.TypedPerFilterConfig == nil {
				c.Route.TypedPerFilterConfig = map[string]*anypb.Any{}
			}
			c.Route.TypedPerFilterConfig[luaInstanceName(lua)] = a
			continue
		}
		// Deliberate difference: Envoy Gateway also sets config to an empty
		// Any (`config: {}`). Envoy reads both as "enabled, no override",
		// but an Any without a type URL cannot be resolved by protojson
		// type resolvers (config dumps) or by proxies that look per-route
		// types up, so Portico leaves it unset.
		if err := c.SetPerFilterConfig(luaInstanceName(lua), &routev3.FilterConfig{}); err != nil {
			return err
		}
	}
	return nil
}
