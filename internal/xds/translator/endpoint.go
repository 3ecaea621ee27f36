package translator

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/ir"
)

const transportSocketMatchKey = "envoy.transport_socket_match"

// loadAssignment is one locality per backend setting (region = setting
// name, weight = backendRef weight), each endpoint weighted 1. Settings of
// weight 0 are left out; a setting without endpoints (yet) keeps its
// locality, as in Envoy Gateway.
func loadAssignment(cluster string, settings []*ir.DestinationSetting) (*endpointv3.ClusterLoadAssignment, error) {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: cluster}
	for i, st := range settings {
		w := uint32(1)
		if st.Weight != nil {
			w = *st.Weight
		}
		if w == 0 {
			continue
		}
		loc := &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{Region: st.Name},
			LoadBalancingWeight: wrapUint32(w),
			Metadata:            resourceMetadata(st.Metadata),
		}
		if st.Priority != nil {
			loc.Priority = *st.Priority
		}
		var epMeta *corev3.Metadata
		if st.TLS != nil {
			epMeta = transportSocketMatchMetadata(tlsMatchName(cluster, i))
		}
		for _, ep := range st.Endpoints {
			addr, err := endpointAddress(ep)
			if err != nil {
				return nil, fmt.Errorf("backend %q: %w", st.Name, err)
			}
			loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{
				HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}},
				LoadBalancingWeight: wrapUint32(1),
				Metadata:            epMeta,
			})
		}
		cla.Endpoints = append(cla.Endpoints, loc)
	}
	return cla, nil
}

// endpointAddress is a socket address, or a pipe for a unix socket path.
func endpointAddress(ep *ir.DestinationEndpoint) (*corev3.Address, error) {
	if ep.Path != nil {
		if *ep.Path == "" {
			return nil, fmt.Errorf("empty unix socket path")
		}
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: *ep.Path}}}, nil
	}
	if ep.Host == "" {
		return nil, fmt.Errorf("endpoint without host")
	}
	if ep.Port == 0 || ep.Port > 65535 {
		return nil, fmt.Errorf("endpoint %s: invalid port %d", ep.Host, ep.Port)
	}
	return socketAddress(ep.Host, ep.Port), nil
}

// tlsMatchName names the transport socket match of setting i.
func tlsMatchName(cluster string, i int) string {
	return fmt.Sprintf("%s/tls/%d", cluster, i)
}

func transportSocketMatchMetadata(name string) *corev3.Metadata {
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		transportSocketMatchKey: {Fields: map[string]*structpb.Value{"name": structpb.NewStringValue(name)}},
	}}
}
