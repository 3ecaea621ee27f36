package extension

import (
	"context"
	"encoding/json"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
	pb "github.com/portico-gw/portico/proto/extension"
)

var _ xdstypes.Hooks = (*Manager)(nil)

// validator is what go-control-plane's generated validation gives every
// xDS message. An answer that fails it is a failed call: a proxy would NACK
// it, and the whole fleet would stop updating for one bad resource.
type validator interface{ ValidateAll() error }

func check(m validator, what string) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%s is not a protobuf message", what)
	}
	return validate(pm, what)
}

// noChange reports whether err is an UNIMPLEMENTED answer that means "no
// change" for a lenient member (every hook on, no configuration).
func (mb *member) noChange(err error) bool {
	return mb.lenient && status.Code(err) == codes.Unimplemented
}

func resources(refs []*ir.UnstructuredRef) ([]*pb.ExtensionResource, error) {
	out := make([]*pb.ExtensionResource, 0, len(refs))
	for _, r := range refs {
		// encoding/json sorts map keys, so the bytes are deterministic.
		b, err := json.Marshal(r.Object)
		if err != nil {
			return nil, err
		}
		out = append(out, &pb.ExtensionResource{UnstructuredBytes: b})
	}
	return out, nil
}

// modify is one per-resource hook: how to name call i, which RPC to make
// with what request, and how to take the answer.
type modify[Req, Resp any] struct {
	hook    xdstypes.Hook
	calls   int
	name    func(i int) string
	rpc     func(pb.EnvoyGatewayExtensionClient, context.Context, Req, ...grpc.CallOption) (Resp, error)
	request func(i int) (Req, error)
	apply   func(i int, resp Resp) error
}

// postEach is what the per-resource hooks share: each member that
// registered the hook gets every call (runAll: concurrent, deterministic),
// and its answer replaces the resource, unless a lenient member answered
// UNIMPLEMENTED (no change).
func postEach[Req, Resp any](ctx context.Context, m *Manager, p modify[Req, Resp]) error {
	for _, mb := range m.members {
		if !mb.hooks[p.hook] {
			continue
		}
		err := m.runAll(ctx, mb, p.hook, p.calls, p.name, func(ctx context.Context, i int) error {
			req, err := p.request(i)
			if err != nil {
				return err
			}
			resp, err := invoke(ctx, mb.client, p.rpc, req)
			if err != nil {
				if mb.noChange(err) {
					return nil
				}
				return err
			}
			return p.apply(i, resp)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// replace puts an answer's resource in place of the call's, once it
// validates; an answer without one changes nothing.
func replace[T interface {
	comparable
	validator
}](got T, what string, into *T) error {
	var none T
	if got == none {
		return nil
	}
	if err := check(got, what); err != nil {
		return err
	}
	*into = got
	return nil
}

// PostRoutes implements xdstypes.Hooks.
func (m *Manager) PostRoutes(ctx context.Context, calls []*xdstypes.RouteCall) error {
	return postEach(ctx, m, modify[*pb.PostRouteModifyRequest, *pb.PostRouteModifyResponse]{
		hook: xdstypes.HookRoute, calls: len(calls), rpc: pb.EnvoyGatewayExtensionClient.PostRouteModify,
		name: func(i int) string { return "route " + calls[i].Route.GetName() },
		request: func(i int) (*pb.PostRouteModifyRequest, error) {
			c := calls[i]
			refs, err := resources(c.ExtensionRefs)
			if err != nil {
				return nil, err
			}
			pols, err := resources(c.Policies)
			if err != nil {
				return nil, err
			}
			return &pb.PostRouteModifyRequest{Route: c.Route, PostRouteContext: &pb.PostRouteExtensionContext{
				ExtensionResources: refs, Hostnames: c.Hostnames, ExtensionPolicies: pols}}, nil
		},
		apply: func(i int, r *pb.PostRouteModifyResponse) error {
			return replace(r.GetRoute(), "route", &calls[i].Route)
		},
	})
}

// PostClusters implements xdstypes.Hooks.
func (m *Manager) PostClusters(ctx context.Context, calls []*xdstypes.ClusterCall) error {
	return postEach(ctx, m, modify[*pb.PostClusterModifyRequest, *pb.PostClusterModifyResponse]{
		hook: xdstypes.HookCluster, calls: len(calls), rpc: pb.EnvoyGatewayExtensionClient.PostClusterModify,
		name: func(i int) string { return "cluster " + calls[i].Cluster.GetName() },
		request: func(i int) (*pb.PostClusterModifyRequest, error) {
			backends, err := resources(calls[i].Backends)
			if err != nil {
				return nil, err
			}
			return &pb.PostClusterModifyRequest{Cluster: calls[i].Cluster,
				PostClusterContext: &pb.PostClusterExtensionContext{BackendExtensionResources: backends}}, nil
		},
		apply: func(i int, r *pb.PostClusterModifyResponse) error {
			return replace(r.GetCluster(), "cluster", &calls[i].Cluster)
		},
	})
}

// PostVirtualHosts implements xdstypes.Hooks.
func (m *Manager) PostVirtualHosts(ctx context.Context, calls []*xdstypes.VirtualHostCall) error {
	return postEach(ctx, m, modify[*pb.PostVirtualHostModifyRequest, *pb.PostVirtualHostModifyResponse]{
		hook: xdstypes.HookVirtualHost, calls: len(calls), rpc: pb.EnvoyGatewayExtensionClient.PostVirtualHostModify,
		name: func(i int) string { return "virtual host " + calls[i].VirtualHost.GetName() },
		request: func(i int) (*pb.PostVirtualHostModifyRequest, error) {
			return &pb.PostVirtualHostModifyRequest{VirtualHost: calls[i].VirtualHost,
				PostVirtualHostContext: &pb.PostVirtualHostExtensionContext{}}, nil
		},
		apply: func(i int, r *pb.PostVirtualHostModifyResponse) error {
			return replace(r.GetVirtualHost(), "virtual host", &calls[i].VirtualHost)
		},
	})
}

// PostHTTPListeners implements xdstypes.Hooks.
func (m *Manager) PostHTTPListeners(ctx context.Context, calls []*xdstypes.ListenerCall) error {
	return postEach(ctx, m, modify[*pb.PostHTTPListenerModifyRequest, *pb.PostHTTPListenerModifyResponse]{
		hook: xdstypes.HookHTTPListener, calls: len(calls), rpc: pb.EnvoyGatewayExtensionClient.PostHTTPListenerModify,
		name: func(i int) string { return "listener " + calls[i].Listener.GetName() },
		request: func(i int) (*pb.PostHTTPListenerModifyRequest, error) {
			pols, err := resources(calls[i].Policies)
			if err != nil {
				return nil, err
			}
			return &pb.PostHTTPListenerModifyRequest{Listener: calls[i].Listener,
				PostListenerContext: &pb.PostHTTPListenerExtensionContext{ExtensionResources: pols}}, nil
		},
		apply: func(i int, r *pb.PostHTTPListenerModifyResponse) error {
			return replace(r.GetListener(), "listener", &calls[i].Listener)
		},
	})
}

// PostEndpoints implements xdstypes.Hooks.
func (m *Manager) PostEndpoints(ctx context.Context, calls []*xdstypes.EndpointsCall) error {
	return postEach(ctx, m, modify[*pb.PostEndpointsModifyRequest, *pb.PostEndpointsModifyResponse]{
		hook: xdstypes.HookEndpoints, calls: len(calls), rpc: pb.EnvoyGatewayExtensionClient.PostEndpointsModify,
		name: func(i int) string { return "endpoints " + calls[i].LoadAssignment.GetClusterName() },
		request: func(i int) (*pb.PostEndpointsModifyRequest, error) {
			return &pb.PostEndpointsModifyRequest{LoadAssignment: calls[i].LoadAssignment,
				PostEndpointsContext: &pb.PostEndpointsExtensionContext{}}, nil
		},
		apply: func(i int, r *pb.PostEndpointsModifyResponse) error {
			return replace(r.GetLoadAssignment(), "load assignment", &calls[i].LoadAssignment)
		},
	})
}

// includeAll reads hooks.xdsTranslator.translation with Envoy Gateway's
// defaults (listener false, route false, cluster true, secret true).
func includeAll(mb *member) (listeners, routes, clusters, secrets bool) {
	listeners, routes, clusters, secrets = false, false, true, true
	if mb.cfg.Hooks == nil || mb.cfg.Hooks.XDSTranslator == nil || mb.cfg.Hooks.XDSTranslator.Translation == nil {
		return
	}
	t := mb.cfg.Hooks.XDSTranslator.Translation
	if t.Listener != nil && t.Listener.IncludeAll != nil {
		listeners = *t.Listener.IncludeAll
	}
	if t.Route != nil && t.Route.IncludeAll != nil {
		routes = *t.Route.IncludeAll
	}
	if t.Cluster != nil && t.Cluster.IncludeAll != nil {
		clusters = *t.Cluster.IncludeAll
	}
	if t.Secret != nil && t.Secret.IncludeAll != nil {
		secrets = *t.Secret.IncludeAll
	}
	return
}

// PostTranslate implements xdstypes.Hooks. Each manager is sent the
// types its translation.includeAll selects; the lists it returns replace
// exactly those types. An answer with every list empty means "no change"
// (a server cannot otherwise say so: an empty repeated field is the same as
// an absent one).
func (m *Manager) PostTranslate(ctx context.Context, call *xdstypes.TranslateCall) error {
	for _, mb := range m.members {
		if !mb.hooks[xdstypes.HookTranslation] {
			continue
		}
		res := call.Resources
		lis, rts, cls, secs := includeAll(mb)
		if mb.lenient {
			lis, rts = true, true
		}
		var next xdstypes.Resources
		err := m.runAll(ctx, mb, xdstypes.HookTranslation, 1, func(int) string { return "" },
			func(ctx context.Context, _ int) error {
				pols, err := resources(call.Policies)
				if err != nil {
					return err
				}
				req := &pb.PostTranslateModifyRequest{PostTranslateContext: &pb.PostTranslateExtensionContext{ExtensionResources: pols}}
				if cls {
					req.Clusters = res.Clusters
				}
				if secs {
					req.Secrets = res.Secrets
				}
				if lis {
					req.Listeners = res.Listeners
				}
				if rts {
					req.Routes = res.Routes
				}
				resp, err := invoke(ctx, mb.client, pb.EnvoyGatewayExtensionClient.PostTranslateModify, req)
				if err != nil {
					if mb.noChange(err) {
						return nil
					}
					return err
				}
				next = *res
				if len(resp.GetClusters())+len(resp.GetSecrets())+len(resp.GetListeners())+len(resp.GetRoutes()) == 0 {
					return nil
				}
				if cls {
					if next.Clusters, err = checked(resp.GetClusters(), "cluster", (*clusterv3.Cluster).GetName); err != nil {
						return err
					}
				}
				if secs {
					if next.Secrets, err = checked(resp.GetSecrets(), "secret", (*tlsv3.Secret).GetName); err != nil {
						return err
					}
				}
				if lis {
					if next.Listeners, err = checked(resp.GetListeners(), "listener", (*listenerv3.Listener).GetName); err != nil {
						return err
					}
				}
				if rts {
					if next.Routes, err = checked(resp.GetRoutes(), "route configuration", (*routev3.RouteConfiguration).GetName); err != nil {
						return err
					}
				}
				return nil
			})
		if err != nil {
			return err
		}
		if next.Listeners != nil || next.Clusters != nil || next.Routes != nil || next.Secrets != nil {
			*res = next
		}
	}
	return nil
}

// checked validates each returned resource and rejects duplicate or empty
// names (a snapshot is keyed by name).
func checked[T validator](in []T, what string, name func(T) string) ([]T, error) {
	seen := map[string]bool{}
	for _, r := range in {
		if err := check(r, what); err != nil {
			return nil, err
		}
		n := name(r)
		if n == "" || seen[n] {
			return nil, fmt.Errorf("the extension server returned a %s with an empty or duplicate name %q", what, n)
		}
		seen[n] = true
	}
	if in == nil {
		in = []T{}
	}
	return in, nil
}
