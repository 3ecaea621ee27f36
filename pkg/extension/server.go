// Package extension is a small SDK for people who write extension servers
// for Portico (and Envoy Gateway: the API is the same).
//
// Embed Base in your server type and implement only the hooks you need;
// the others answer "no change". Decode turns the extension resources a
// hook receives into your own Go types, and EditHCM / AddHTTPFilter edit a
// listener's HTTP connection managers.
//
//	type server struct{ extension.Base }
//
//	func (s *server) PostHTTPListenerModify(ctx context.Context, req *pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
//		...
//	}
//
//	extension.Serve(lis, &server{})
package extension

import (
	"context"
	"encoding/json"
	"fmt"
	"net"

	"google.golang.org/grpc"

	pb "github.com/portico-gw/portico/proto/extension"
)

// Base answers every hook with "no change" (the resource field unset).
// Embed it so that a server built against this SDK keeps working when the
// control plane calls a hook it does not implement.
type Base struct {
	pb.UnimplementedEnvoyGatewayExtensionServer
}

// PostRouteModify answers "no change".
func (Base) PostRouteModify(context.Context, *pb.PostRouteModifyRequest) (*pb.PostRouteModifyResponse, error) {
	return &pb.PostRouteModifyResponse{}, nil
}

// PostVirtualHostModify answers "no change".
func (Base) PostVirtualHostModify(context.Context, *pb.PostVirtualHostModifyRequest) (*pb.PostVirtualHostModifyResponse, error) {
	return &pb.PostVirtualHostModifyResponse{}, nil
}

// PostHTTPListenerModify answers "no change".
func (Base) PostHTTPListenerModify(context.Context, *pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
	return &pb.PostHTTPListenerModifyResponse{}, nil
}

// PostClusterModify answers "no change".
func (Base) PostClusterModify(context.Context, *pb.PostClusterModifyRequest) (*pb.PostClusterModifyResponse, error) {
	return &pb.PostClusterModifyResponse{}, nil
}

// PostEndpointsModify answers "no change".
func (Base) PostEndpointsModify(context.Context, *pb.PostEndpointsModifyRequest) (*pb.PostEndpointsModifyResponse, error) {
	return &pb.PostEndpointsModifyResponse{}, nil
}

// PostTranslateModify answers "no change" (every list empty).
func (Base) PostTranslateModify(context.Context, *pb.PostTranslateModifyRequest) (*pb.PostTranslateModifyResponse, error) {
	return &pb.PostTranslateModifyResponse{}, nil
}

// Serve registers srv on a new gRPC server and serves lis until it fails or
// the returned server is stopped. It returns once serving has started.
func Serve(lis net.Listener, srv pb.EnvoyGatewayExtensionServer, opts ...grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(opts...)
	pb.RegisterEnvoyGatewayExtensionServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	return s
}

// Object is the common shape of a Kubernetes object, for Decode targets
// that embed it.
type Object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
}

// Decode unmarshals one extension resource (the object as JSON) into T.
func Decode[T any](r *pb.ExtensionResource) (*T, error) {
	var out T
	if err := json.Unmarshal(r.GetUnstructuredBytes(), &out); err != nil {
		return nil, fmt.Errorf("decode extension resource: %w", err)
	}
	return &out, nil
}

// DecodeKind decodes the resources of one apiVersion and kind into T,
// skipping the others, in order.
func DecodeKind[T any](rs []*pb.ExtensionResource, apiVersion, kind string) ([]*T, error) {
	var out []*T
	for _, r := range rs {
		var o Object
		if err := json.Unmarshal(r.GetUnstructuredBytes(), &o); err != nil {
			return nil, fmt.Errorf("decode extension resource: %w", err)
		}
		if o.APIVersion != apiVersion || o.Kind != kind {
			continue
		}
		t, err := Decode[T](r)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
