package xdstypes

import (
	"context"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
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
