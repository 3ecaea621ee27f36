package translator

import (
	"context"
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// ApplyHooks runs the per-resource hooks on a translation's output, in
// Envoy Gateway's order: Route, Cluster, VirtualHost, HTTPListener,
// Endpoints. Each resource is handed over in its final translated form
// (a route with its per-filter configs, a virtual host with its routes
// already modified, a listener with its HCM), which is what calling the hook
// in the middle of translation would hand over too. res is modified in
// place. The Translation hook runs later (ApplyTranslateHook), after the
// EnvoyPatchPolicies.
func ApplyHooks(ctx context.Context, x *ir.Xds, res *xdstypes.Resources, h xdstypes.Hooks) error {
	if h == nil || res == nil || x == nil {
		return nil
	}
	if h.Enabled(xdstypes.HookRoute) {
		if err := routeHooks(ctx, x, res, h); err != nil {
			return err
		}
	}
	if h.Enabled(xdstypes.HookCluster) {
		if err := clusterHooks(ctx, x, res, h); err != nil {
			return err
		}
	}
	if h.Enabled(xdstypes.HookVirtualHost) {
		var calls []*xdstypes.VirtualHostCall
		for _, rc := range res.Routes {
			for _, vh := range rc.VirtualHosts {
				calls = append(calls, &xdstypes.VirtualHostCall{VirtualHost: vh})
			}
		}
		if len(calls) > 0 {
			if err := h.PostVirtualHosts(ctx, calls); err != nil {
				return err
			}
			i := 0
			for _, rc := range res.Routes {
				for j := range rc.VirtualHosts {
					rc.VirtualHosts[j] = calls[i].VirtualHost
					i++
				}
			}
		}
	}
	if h.Enabled(xdstypes.HookHTTPListener) {
		if err := listenerHooks(ctx, x, res, h); err != nil {
			return err
		}
	}
	if h.Enabled(xdstypes.HookEndpoints) && len(res.Endpoints) > 0 {
		calls := make([]*xdstypes.EndpointsCall, len(res.Endpoints))
		for i, e := range res.Endpoints {
			calls[i] = &xdstypes.EndpointsCall{LoadAssignment: e}
		}
		if err := h.PostEndpoints(ctx, calls); err != nil {
			return err
		}
		for i, c := range calls {
			res.Endpoints[i] = c.LoadAssignment
		}
	}
	return nil
}

// ApplyTranslateHook runs the Translation hook once for the fleet.
func ApplyTranslateHook(ctx context.Context, x *ir.Xds, res *xdstypes.Resources, h xdstypes.Hooks) error {
	if h == nil || res == nil || !h.Enabled(xdstypes.HookTranslation) {
		return nil
	}
	return h.PostTranslate(ctx, &xdstypes.TranslateCall{Resources: res, Policies: FleetPolicies(x)})
}

// routeHooks calls the Route hook for each route whose IR route carries
// extensionRef filters or extension policies.
func routeHooks(ctx context.Context, x *ir.Xds, res *xdstypes.Resources, h xdstypes.Hooks) error {
	byName := map[string]*ir.HTTPRoute{}
	for _, l := range x.HTTP {
		for _, r := range l.Routes {
			if r != nil && (len(r.ExtensionRefs) > 0 || len(r.ExtensionPolicies) > 0) {
				byName[r.Name] = r
			}
		}
	}
	if len(byName) == 0 {
		return nil
	}
	type slot struct {
		vh *routev3.VirtualHost
		i  int
	}
	var calls []*xdstypes.RouteCall
	var slots []slot
	for _, rc := range res.Routes {
		for _, vh := range rc.VirtualHosts {
			for i, r := range vh.Routes {
				irr := byName[r.GetName()]
				if irr == nil {
					continue
				}
				calls = append(calls, &xdstypes.RouteCall{
					Route: r, Hostnames: []string{irr.Hostname},
					ExtensionRefs: irr.ExtensionRefs, Policies: irr.ExtensionPolicies,
				})
				slots = append(slots, slot{vh, i})
			}
		}
	}
	if len(calls) == 0 {
		return nil
	}
	if err := h.PostRoutes(ctx, calls); err != nil {
		return err
	}
	for k, s := range slots {
		s.vh.Routes[s.i] = calls[k].Route
	}
	return nil
}

// clusterHooks calls the Cluster hook for the clusters of destinations with
// custom (extension) backends.
func clusterHooks(ctx context.Context, x *ir.Xds, res *xdstypes.Resources, h xdstypes.Hooks) error {
	backends := map[string][]*ir.UnstructuredRef{}
	for _, l := range x.HTTP {
		for _, r := range l.Routes {
			if r != nil && r.Destination != nil && len(r.Destination.ExtensionBackends) > 0 {
				backends[r.Destination.Name] = r.Destination.ExtensionBackends
			}
		}
	}
	var calls []*xdstypes.ClusterCall
	var idx []int
	for i, c := range res.Clusters {
		if b, ok := backends[c.GetName()]; ok {
			calls = append(calls, &xdstypes.ClusterCall{Cluster: c, Backends: b})
			idx = append(idx, i)
		}
	}
	if len(calls) == 0 {
		return nil
	}
	if err := h.PostClusters(ctx, calls); err != nil {
		return err
	}
	for k, i := range idx {
		res.Clusters[i] = calls[k].Cluster
	}
	return nil
}

// listenerHooks calls the HTTPListener hook for each HTTP(S) listener (not
// the readiness listener), with the policies of the IR listeners it serves.
func listenerHooks(ctx context.Context, x *ir.Xds, res *xdstypes.Resources, h xdstypes.Hooks) error {
	policies := map[uint32][]*ir.UnstructuredRef{}
	ports := map[uint32]bool{}
	for _, l := range x.HTTP {
		if l == nil {
			continue
		}
		ports[l.Port] = true
		policies[l.Port] = append(policies[l.Port], l.ExtensionPolicies...)
	}
	var calls []*xdstypes.ListenerCall
	var idx []int
	for i, l := range res.Listeners {
		port := listenerPort(l)
		if !ports[port] || (x.ReadyListener != nil && l.GetName() == readyListenerName(x.ReadyListener)) {
			continue
		}
		calls = append(calls, &xdstypes.ListenerCall{Listener: l, Policies: dedupRefs(policies[port])})
		idx = append(idx, i)
	}
	if len(calls) == 0 {
		return nil
	}
	if err := h.PostHTTPListeners(ctx, calls); err != nil {
		return err
	}
	for k, i := range idx {
		res.Listeners[i] = calls[k].Listener
	}
	return nil
}

func listenerPort(l *listenerv3.Listener) uint32 {
	if sa, ok := l.GetAddress().GetAddress().(*corev3.Address_SocketAddress); ok {
		return sa.SocketAddress.GetPortValue()
	}
	return 0
}

// FleetPolicies is every extension policy attached anywhere in the fleet,
// de-duplicated and sorted (namespace, name) for the Translation hook.
func FleetPolicies(x *ir.Xds) []*ir.UnstructuredRef {
	var all []*ir.UnstructuredRef
	for _, l := range x.HTTP {
		if l == nil {
			continue
		}
		all = append(all, l.ExtensionPolicies...)
		for _, r := range l.Routes {
			if r != nil {
				all = append(all, r.ExtensionPolicies...)
			}
		}
	}
	out := dedupRefs(all)
	sort.SliceStable(out, func(i, j int) bool { return refKey(out[i]) < refKey(out[j]) })
	return out
}

// dedupRefs keeps the first of each object (kind, namespace, name), in order.
func dedupRefs(refs []*ir.UnstructuredRef) []*ir.UnstructuredRef {
	seen := map[string]bool{}
	var out []*ir.UnstructuredRef
	for _, r := range refs {
		k := refKey(r)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	return out
}

func refKey(r *ir.UnstructuredRef) string {
	md, _ := r.Object["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	kind, _ := r.Object["kind"].(string)
	api, _ := r.Object["apiVersion"].(string)
	return ns + "/" + name + "/" + api + "/" + kind
}
