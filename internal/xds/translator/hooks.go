package translator

import (
	"context"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/portico-gw/portico/internal/ir"
)

// Hook names one extension point; the values are Envoy Gateway's
// hooks.xdsTranslator.post names.
type Hook string

// The xDS translator's post hooks.
const (
	HookRoute        Hook = "Route"
	HookVirtualHost  Hook = "VirtualHost"
	HookHTTPListener Hook = "HTTPListener"
	HookCluster      Hook = "Cluster"
	HookEndpoints    Hook = "Endpoints"
	HookTranslation  Hook = "Translation"
)

// Hooks is the extension manager as the xDS stage sees it. The translator
// stays pure: it only decides what to send, in a deterministic order, and
// where each answer goes; the implementation owns the I/O (gRPC, retries,
// deadlines, concurrency, failOpen). Each method receives every call of one
// hook for one fleet at once, so the implementation may run them
// concurrently; it writes each result into its call, in place. An error
// means the fleet must not be served (a failed hook with failOpen=false).
type Hooks interface {
	Enabled(h Hook) bool
	PostRoutes(ctx context.Context, calls []*RouteCall) error
	PostClusters(ctx context.Context, calls []*ClusterCall) error
	PostVirtualHosts(ctx context.Context, calls []*VirtualHostCall) error
	PostHTTPListeners(ctx context.Context, calls []*ListenerCall) error
	PostEndpoints(ctx context.Context, calls []*EndpointsCall) error
	PostTranslate(ctx context.Context, call *TranslateCall) error
}

// RouteCall is one PostRouteModify call.
type RouteCall struct {
	Route         *routev3.Route
	Hostnames     []string
	ExtensionRefs []*ir.UnstructuredRef
	Policies      []*ir.UnstructuredRef
}

// ClusterCall is one PostClusterModify call.
type ClusterCall struct {
	Cluster  *clusterv3.Cluster
	Backends []*ir.UnstructuredRef
}

// VirtualHostCall is one PostVirtualHostModify call.
type VirtualHostCall struct {
	VirtualHost *routev3.VirtualHost
}

// ListenerCall is one PostHTTPListenerModify call.
type ListenerCall struct {
	Listener *listenerv3.Listener
	Policies []*ir.UnstructuredRef
}

// EndpointsCall is one PostEndpointsModify call.
type EndpointsCall struct {
	LoadAssignment *endpointv3.ClusterLoadAssignment
}

// TranslateCall is the PostTranslateModify call: the implementation picks
// the types it sends (translation.includeAll) and replaces exactly those.
type TranslateCall struct {
	Resources *Resources
	Policies  []*ir.UnstructuredRef
}

// ApplyHooks runs the per-resource hooks on a translation's output, in
// Envoy Gateway's order: Route, Cluster, VirtualHost, HTTPListener,
// Endpoints. Each resource is handed over in its final translated form
// (a route with its per-filter configs, a virtual host with its routes
// already modified, a listener with its HCM), which is what calling the hook
// in the middle of translation would hand over too. res is modified in
// place. The Translation hook runs later (ApplyTranslateHook), after the
// EnvoyPatchPolicies.
func ApplyHooks(ctx context.Context, x *ir.Xds, res *Resources, h Hooks) error {
	if h == nil || res == nil || x == nil {
		return nil
	}
	if h.Enabled(HookRoute) {
		if err := routeHooks(ctx, x, res, h); err != nil {
			return err
		}
	}
	if h.Enabled(HookCluster) {
		if err := clusterHooks(ctx, x, res, h); err != nil {
			return err
		}
	}
	if h.Enabled(HookVirtualHost) {
		var calls []*VirtualHostCall
		for _, rc := range res.Routes {
			for _, vh := range rc.VirtualHosts {
				calls = append(calls, &VirtualHostCall{VirtualHost: vh})
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
	if h.Enabled(HookHTTPListener) {
		if err := listenerHooks(ctx, x, res, h); err != nil {
			return err
		}
	}
	if h.Enabled(HookEndpoints) && len(res.Endpoints) > 0 {
		calls := make([]*EndpointsCall, len(res.Endpoints))
		for i, e := range res.Endpoints {
			calls[i] = &EndpointsCall{LoadAssignment: e}
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
func ApplyTranslateHook(ctx context.Context, x *ir.Xds, res *Resources, h Hooks) error {
	if h == nil || res == nil || !h.Enabled(HookTranslation) {
		return nil
	}
	return h.PostTranslate(ctx, &TranslateCall{Resources: res, Policies: FleetPolicies(x)})
}

// routeHooks calls the Route hook for each route whose IR route carries
// extensionRef filters or extension policies.
func routeHooks(ctx context.Context, x *ir.Xds, res *Resources, h Hooks) error {
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
	var calls []*RouteCall
	var slots []slot
	for _, rc := range res.Routes {
		for _, vh := range rc.VirtualHosts {
			for i, r := range vh.Routes {
				irr := byName[r.GetName()]
				if irr == nil {
					continue
				}
				calls = append(calls, &RouteCall{
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
func clusterHooks(ctx context.Context, x *ir.Xds, res *Resources, h Hooks) error {
	backends := map[string][]*ir.UnstructuredRef{}
	for _, l := range x.HTTP {
		for _, r := range l.Routes {
			if r != nil && r.Destination != nil && len(r.Destination.ExtensionBackends) > 0 {
				backends[r.Destination.Name] = r.Destination.ExtensionBackends
			}
		}
	}
	var calls []*ClusterCall
	var idx []int
	for i, c := range res.Clusters {
		if b, ok := backends[c.GetName()]; ok {
			calls = append(calls, &ClusterCall{Cluster: c, Backends: b})
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
func listenerHooks(ctx context.Context, x *ir.Xds, res *Resources, h Hooks) error {
	policies := map[uint32][]*ir.UnstructuredRef{}
	ports := map[uint32]bool{}
	for _, l := range x.HTTP {
		if l == nil {
			continue
		}
		ports[l.Port] = true
		policies[l.Port] = append(policies[l.Port], l.ExtensionPolicies...)
	}
	var calls []*ListenerCall
	var idx []int
	for i, l := range res.Listeners {
		port := listenerPort(l)
		if !ports[port] || (x.ReadyListener != nil && l.GetName() == readyListenerName(x.ReadyListener)) {
			continue
		}
		calls = append(calls, &ListenerCall{Listener: l, Policies: dedupRefs(policies[port])})
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
