package extension

import (
	"context"
	"encoding/json"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/translator"
	pb "github.com/portico-gw/portico/proto/extension"
)

var _ translator.Hooks = (*Manager)(nil)

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

// PostRoutes implements translator.Hooks.
func (m *Manager) PostRoutes(ctx context.Context, calls []*translator.RouteCall) error {
	for _, mb := range m.members {
		if !mb.hooks[translator.HookRoute] {
			continue
		}
		err := m.runAll(ctx, mb, translator.HookRoute, len(calls), func(i int) string { return "route " + calls[i].Route.GetName() },
			func(ctx context.Context, i int) error {
				c := calls[i]
				refs, err := resources(c.ExtensionRefs)
				if err != nil {
					return err
				}
				pols, err := resources(c.Policies)
				if err != nil {
					return err
				}
				resp, err := invoke(ctx, mb.client, pb.EnvoyGatewayExtensionClient.PostRouteModify, &pb.PostRouteModifyRequest{
					Route: c.Route,
					PostRouteContext: &pb.PostRouteExtensionContext{
						ExtensionResources: refs, Hostnames: c.Hostnames, ExtensionPolicies: pols,
					},
				})
				if err != nil {
					if mb.noChange(err) {
						return nil
					}
					return err
				}
				if r := resp.GetRoute(); r != nil {
					if err := check(r, "route"); err != nil {
						return err
					}
					c.Route = r
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// PostClusters implements translator.Hooks.
func (m *Manager) PostClusters(ctx context.Context, calls []*translator.ClusterCall) error {
	for _, mb := range m.members {
		if !mb.hooks[translator.HookCluster] {
			continue
		}
		err := m.runAll(ctx, mb, translator.HookCluster, len(calls), func(i int) string { return "cluster " + calls[i].Cluster.GetName() },
			func(ctx context.Context, i int) error {
				c := calls[i]
				backends, err := resources(c.Backends)
				if err != nil {
					return err
				}
				resp, err := invoke(ctx, mb.client, pb.EnvoyGatewayExtensionClient.PostClusterModify, &pb.PostClusterModifyRequest{
					Cluster:            c.Cluster,
					PostClusterContext: &pb.PostClusterExtensionContext{BackendExtensionResources: backends},
				})
				if err != nil {
					if mb.noChange(err) {
						return nil
					}
					return err
				}
				if r := resp.GetCluster(); r != nil {
					if err := check(r, "cluster"); err != nil {
						return err
					}
					c.Cluster = r
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// PostVirtualHosts implements translator.Hooks.
func (m *Manager) PostVirtualHosts(ctx context.Context, calls []*translator.VirtualHostCall) error {
	for _, mb := range m.members {
		if !mb.hooks[translator.HookVirtualHost] {
			continue
		}
		err := m.runAll(ctx, mb, translator.HookVirtualHost, len(calls), func(i int) string { return "virtual host " + calls[i].VirtualHost.GetName() },
			func(ctx context.Context, i int) error {
				c := calls[i]
				resp, err := invoke(ctx, mb.client, pb.EnvoyGatewayExtensionClient.PostVirtualHostModify, &pb.PostVirtualHostModifyRequest{
					VirtualHost:            c.VirtualHost,
					PostVirtualHostContext: &pb.PostVirtualHostExtensionContext{},
				})
				if err != nil {
					if mb.noChange(err) {
						return nil
					}
					return err
				}
				if r := resp.GetVirtualHost(); r != nil {
					if err := check(r, "virtual host"); err != nil {
						return err
					}
					c.VirtualHost = r
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// PostHTTPListeners implements translator.Hooks.
func (m *Manager) PostHTTPListeners(ctx context.Context, calls []*translator.ListenerCall) error {
	for _, mb := range m.members {
		if !mb.hooks[translator.HookHTTPListener] {
			continue
		}
		err := m.runAll(ctx, mb, translator.HookHTTPListener, len(calls), func(i int) string { return "listener " + calls[i].Listener.GetName() },
			func(ctx context.Context, i int) error {
				c := calls[i]
				pols, err := resources(c.Policies)
				if err != nil {
					return err
				}
				resp, err := invoke(ctx, mb.client, pb.EnvoyGatewayExtensionClient.PostHTTPListenerModify, &pb.PostHTTPListenerModifyRequest{
					Listener:            c.Listener,
					PostListenerContext: &pb.PostHTTPListenerExtensionContext{ExtensionResources: pols},
				})
				if err != nil {
					if mb.noChange(err) {
						return nil
					}
					return err
				}
				if r := resp.GetListener(); r != nil {
					if err := check(r, "listener"); err != nil {
						return err
					}
					c.Listener = r
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// PostEndpoints implements translator.Hooks.
func (m *Manager) PostEndpoints(ctx context.Context, calls []*translator.EndpointsCall) error {
	for _, mb := range m.members {
		if !mb.hooks[translator.HookEndpoints] {
			continue
		}
		err := m.runAll(ctx, mb, translator.HookEndpoints, len(calls), func(i int) string { return "endpoints " + calls[i].LoadAssignment.GetClusterName() },
			func(ctx context.Context, i int) error {
				c := calls[i]
				resp, err := invoke(ctx, mb.client, pb.EnvoyGatewayExtensionClient.PostEndpointsModify, &pb.PostEndpointsModifyRequest{
					LoadAssignment:       c.LoadAssignment,
					PostEndpointsContext: &pb.PostEndpointsExtensionContext{},
				})
				if err != nil {
					if mb.noChange(err) {
						return nil
					}
					return err
				}
				if r := resp.GetLoadAssignment(); r != nil {
					if err := check(r, "load assignment"); err != nil {
						return err
					}
					c.LoadAssignment = r
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
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

// PostTranslate implements translator.Hooks. Each manager is sent the
// types its translation.includeAll selects; the lists it returns replace
// exactly those types. An answer with every list empty means "no change"
// (a server cannot otherwise say so: an empty repeated field is the same as
// an absent one).
func (m *Manager) PostTranslate(ctx context.Context, call *translator.TranslateCall) error {
	for _, mb := range m.members {
		if !mb.hooks[translator.HookTranslation] {
			continue
		}
		res := call.Resources
		lis, rts, cls, secs := includeAll(mb)
		if mb.lenient {
			lis, rts = true, true
		}
		var next translator.Resources
		err := m.runAll(ctx, mb, translator.HookTranslation, 1, func(int) string { return "" },
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
