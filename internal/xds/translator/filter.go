package translator

import (
	"math"
	"slices"
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/ir"
)

// Default ranks of the HTTP filters (lower runs first). These follow Envoy
// Gateway's default order; a filter with several instances (lua, ext_proc,
// wasm) gives instance i the rank Rank+i.
const (
	RankHealthCheck = 0
	RankFault       = 1
	RankCORS        = 2
	RankExtAuthz    = 6
	RankBasicAuth   = 8
	RankOAuth2      = 9
	RankJWTAuthn    = 10
	RankLua         = 13
	RankExtProc     = 100
	RankWasm        = 200
	RankRBAC        = 301
	RankLocalRL     = 302
	RankRateLimit   = 303
	RankGRPCWeb     = 304
	RankGRPCStats   = 305
	// RankRouter is always last.
	RankRouter = math.MaxInt32
)

// HTTPFilter is one Envoy HTTP filter type the translator knows. Each filter
// lives in its own file and registers itself with RegisterHTTPFilter from an
// init function.
type HTTPFilter struct {
	// Name is the Envoy filter name, e.g. "envoy.filters.http.router".
	// Instances are named Name or Name + "/" + <IR name>; filterOrder moves
	// every instance whose name starts with Name.
	Name string
	// Rank is the default position of the first instance.
	Rank int
	// Listener returns this filter's HCM entries for one HCM (nil when the
	// listener does not need it), in instance order.
	Listener func(c *ListenerContext) ([]*hcmv3.HttpFilter, error)
	// Route adds per-route configuration; nil when the filter has none.
	Route func(c *RouteContext) error
}

// registry holds the filters registered at init time; it is read-only
// once main starts.
var registry []HTTPFilter

// RegisterHTTPFilter adds a filter type. Call it from an init function only.
func RegisterHTTPFilter(f HTTPFilter) {
	for _, r := range registry {
		if r.Name == f.Name {
			panic("translator: HTTP filter registered twice: " + f.Name)
		}
	}
	registry = append(registry, f)
}

// ListenerContext is what a filter sees when it builds its HCM entries.
type ListenerContext struct {
	Xds *ir.Xds
	// Listeners are the IR listeners that share this HCM (several plain-HTTP
	// listeners on one port share one).
	Listeners []*ir.HTTPListener
	// Sink takes the clusters and secrets the filter needs.
	Sink *Sink
}

// RouteContext is what a filter sees for one route. What a filter does to
// the route must depend on IR alone: a Memo reuses a route whose IR did
// not change, so anything read from Xds or Listener would go stale. Secrets
// go through Sink.AddSecret (replayed on reuse); clusters through the
// translator's addCluster.
type RouteContext struct {
	Xds      *ir.Xds
	Listener *ir.HTTPListener
	IR       *ir.HTTPRoute
	Route    *routev3.Route
	Sink     *Sink
}

// SetPerFilterConfig sets typed_per_filter_config[name] of the route.
func (c *RouteContext) SetPerFilterConfig(name string, m proto.Message) error {
	a, err := packAny(m)
	if err != nil {
		return err
	}
	if c.Route.TypedPerFilterConfig == nil {
		c.Route.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	c.Route.TypedPerFilterConfig[name] = a
	return nil
}

// extensionFilters builds one HCM entry per distinct instance (by name) of
// an EnvoyExtensionPolicy filter list of the HCM's routes, in the order
// they first appear (listeners in order, then routes), which is the order
// Envoy Gateway emits them in. list picks the route's instances.
func extensionFilters[T any](c *ListenerContext, list func(*ir.EnvoyExtensionFeatures) []T, name func(*T) string,
	build func(r *ir.HTTPRoute, x *T) (*hcmv3.HttpFilter, error)) ([]*hcmv3.HttpFilter, error) {
	var out []*hcmv3.HttpFilter
	seen := map[string]bool{}
	for _, l := range c.Listeners {
		for _, r := range l.Routes {
			if r == nil || r.EnvoyExtensions == nil {
				continue
			}
			xs := list(r.EnvoyExtensions)
			for i := range xs {
				if seen[name(&xs[i])] {
					continue
				}
				seen[name(&xs[i])] = true
				f, err := build(r, &xs[i])
				if err != nil {
					return nil, err
				}
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// typedFilter builds an HCM entry with a typed config.
func typedFilter(name string, m proto.Message) (*hcmv3.HttpFilter, error) {
	a, err := packAny(m)
	if err != nil {
		return nil, err
	}
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}, nil
}

// disabledFilter is a listener's entry for a filter that runs only where a
// route's typed_per_filter_config enables it, as Envoy Gateway emits its
// per-route filters.
func disabledFilter(name string, m proto.Message) (*hcmv3.HttpFilter, error) {
	f, err := typedFilter(name, m)
	if err != nil {
		return nil, err
	}
	f.Disabled = true
	return f, nil
}

// firstRoute is the first route of c's listeners for which has is true,
// nil when none is.
func firstRoute(c *ListenerContext, has func(*ir.HTTPRoute) bool) *ir.HTTPRoute {
	for _, l := range c.Listeners {
		for _, r := range l.Routes {
			if r != nil && has(r) {
				return r
			}
		}
	}
	return nil
}

type rankedFilter struct {
	f    *hcmv3.HttpFilter
	rank int
	reg  int
}

// buildHTTPFilters runs every registered filter for one HCM and orders the
// result: by rank, then registration order, then EnvoyProxy filterOrder.
func buildHTTPFilters(c *ListenerContext, e *errs) []*hcmv3.HttpFilter {
	var all []rankedFilter
	for i, reg := range registry {
		if reg.Listener == nil {
			continue
		}
		fs, err := reg.Listener(c)
		if err != nil {
			e.add("HTTPFilter", reg.Name, err)
			continue
		}
		for j, f := range fs {
			rank := reg.Rank
			if rank != RankRouter {
				rank += j
			}
			all = append(all, rankedFilter{f: f, rank: rank, reg: i})
		}
	}
	sort.SliceStable(all, func(a, b int) bool {
		if all[a].rank != all[b].rank {
			return all[a].rank < all[b].rank
		}
		return all[a].reg < all[b].reg
	})
	out := make([]*hcmv3.HttpFilter, len(all))
	for i, r := range all {
		out[i] = r.f
	}
	return applyFilterOrder(out, c.Xds.FilterOrder)
}

// filterType is the Envoy filter name of an instance name.
func filterType(name string) string {
	t, _, _ := strings.Cut(name, "/")
	return t
}

// applyFilterOrder moves whole filter types as EnvoyProxy spec.filterOrder
// says: every instance of Name goes right before the first instance of
// Before, or right after the last instance of After. Entries apply in order;
// one naming a filter that is not present changes nothing. The router stays
// last.
func applyFilterOrder(fs []*hcmv3.HttpFilter, order []ir.FilterPosition) []*hcmv3.HttpFilter {
	for _, p := range order {
		var moved, rest []*hcmv3.HttpFilter
		for _, f := range fs {
			if filterType(f.GetName()) == p.Name {
				moved = append(moved, f)
			} else {
				rest = append(rest, f)
			}
		}
		if len(moved) == 0 || p.Name == routerFilterName {
			continue
		}
		idx := -1
		switch {
		case p.Before != nil:
			idx = slices.IndexFunc(rest, func(f *hcmv3.HttpFilter) bool { return filterType(f.GetName()) == *p.Before })
		case p.After != nil:
			for i, f := range rest {
				if filterType(f.GetName()) == *p.After {
					idx = i + 1
				}
			}
		}
		if idx < 0 {
			continue
		}
		if n := len(rest); idx == n && n > 0 && rest[n-1].GetName() == routerFilterName {
			idx = n - 1
		}
		fs = slices.Concat(rest[:idx:idx], moved, rest[idx:])
	}
	return fs
}

// applyRouteFilters runs every registered filter's Route function.
func applyRouteFilters(c *RouteContext) error {
	for _, reg := range registry {
		if reg.Route == nil {
			continue
		}
		if err := reg.Route(c); err != nil {
			return err
		}
	}
	return nil
}
