package patch

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Type URLs of the patchable resources (EnvoyPatchPolicy spec.jsonPatches[].type).
const (
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	SecretType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// kind indexes the working lists; the order is the order of xdstypes.Resources.
type kind int

const (
	kListener kind = iota
	kRoute
	kCluster
	kEndpoint
	kSecret
	numKinds
)

var kindURLs = [numKinds]string{ListenerType, RouteType, ClusterType, EndpointType, SecretType}

func kindOf(typeURL string) (kind, bool) {
	for k, u := range kindURLs {
		if u == typeURL {
			return kind(k), true
		}
	}
	return 0, false
}

func (k kind) String() string { return kindURLs[k] }

func (k kind) new() proto.Message {
	switch k {
	case kListener:
		return &listenerv3.Listener{}
	case kRoute:
		return &routev3.RouteConfiguration{}
	case kCluster:
		return &clusterv3.Cluster{}
	case kEndpoint:
		return &endpointv3.ClusterLoadAssignment{}
	default:
		return &tlsv3.Secret{}
	}
}

// nameOf is the resource's xDS name: cluster_name for a
// ClusterLoadAssignment (that is what EDS requests by), name otherwise.
func nameOf(m proto.Message) string {
	switch v := m.(type) {
	case *endpointv3.ClusterLoadAssignment:
		return v.GetClusterName()
	case interface{ GetName() string }:
		return v.GetName()
	}
	return ""
}

// lists is the working copy of the resources. Apply never mutates the
// caller's messages: a patched resource is a new message that replaces the
// pointer in this copy, so the unpatched snapshot stays intact for diffs
// and for the next translation.
type lists [numKinds][]proto.Message

func fromResources(r *xdstypes.Resources) *lists {
	var l lists
	if r == nil {
		return &l
	}
	for _, m := range r.Listeners {
		l[kListener] = append(l[kListener], m)
	}
	for _, m := range r.Routes {
		l[kRoute] = append(l[kRoute], m)
	}
	for _, m := range r.Clusters {
		l[kCluster] = append(l[kCluster], m)
	}
	for _, m := range r.Endpoints {
		l[kEndpoint] = append(l[kEndpoint], m)
	}
	for _, m := range r.Secrets {
		l[kSecret] = append(l[kSecret], m)
	}
	return &l
}

func (l *lists) resources() *xdstypes.Resources {
	r := &xdstypes.Resources{}
	for _, m := range l[kListener] {
		r.Listeners = append(r.Listeners, m.(*listenerv3.Listener))
	}
	for _, m := range l[kRoute] {
		r.Routes = append(r.Routes, m.(*routev3.RouteConfiguration))
	}
	for _, m := range l[kCluster] {
		r.Clusters = append(r.Clusters, m.(*clusterv3.Cluster))
	}
	for _, m := range l[kEndpoint] {
		r.Endpoints = append(r.Endpoints, m.(*endpointv3.ClusterLoadAssignment))
	}
	for _, m := range l[kSecret] {
		r.Secrets = append(r.Secrets, m.(*tlsv3.Secret))
	}
	return r
}

func (l *lists) find(k kind, name string) int {
	for i, m := range l[k] {
		if nameOf(m) == name {
			return i
		}
	}
	return -1
}

// validate runs the protoc-gen-validate rules that ship with
// go-control-plane, the same rules Envoy applies before it accepts a
// resource; a patch that breaks them would otherwise be NACKed by every
// proxy of the fleet.
func validate(m proto.Message) error {
	if v, ok := m.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if nameOf(m) == "" {
		return fmt.Errorf("the resource has no name")
	}
	return nil
}
