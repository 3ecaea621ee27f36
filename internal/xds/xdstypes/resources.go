// Package xdstypes holds what the xDS stage hands to the stages after it:
// the resources of one proxy fleet, and the extension hooks' interface and
// call types. It is a package of its own so that the runner, the patcher,
// the config dump and the extension manager depend on these types and not
// on the translator that produces them.
package xdstypes

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Resources is the xDS for one proxy fleet. Each list is in a deterministic
// order (the order of the IR) and has unique names.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// ByType returns the resources keyed by go-control-plane resource type URL,
// ready for cache.NewSnapshot.
func (r *Resources) ByType() map[resourcev3.Type][]types.Resource {
	m := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: nil,
		resourcev3.RouteType:    nil,
		resourcev3.ClusterType:  nil,
		resourcev3.EndpointType: nil,
		resourcev3.SecretType:   nil,
	}
	for _, x := range r.Listeners {
		m[resourcev3.ListenerType] = append(m[resourcev3.ListenerType], x)
	}
	for _, x := range r.Routes {
		m[resourcev3.RouteType] = append(m[resourcev3.RouteType], x)
	}
	for _, x := range r.Clusters {
		m[resourcev3.ClusterType] = append(m[resourcev3.ClusterType], x)
	}
	for _, x := range r.Endpoints {
		m[resourcev3.EndpointType] = append(m[resourcev3.EndpointType], x)
	}
	for _, x := range r.Secrets {
		m[resourcev3.SecretType] = append(m[resourcev3.SecretType], x)
	}
	return m
}
