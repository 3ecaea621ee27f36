// Package configdump renders xDS resources (and the bootstrap) as the
// Envoy admin ConfigDump sections `egctl x translate` prints, as generic
// JSON values (protojson, camelCase) a CLI can print as YAML or JSON.
package configdump

import (
	"fmt"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/proto"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Type selects sections, as egctl's -t flag.
type Type string

const (
	Bootstrap Type = "bootstrap"
	Cluster   Type = "cluster"
	Listener  Type = "listener"
	Route     Type = "route"
	Endpoint  Type = "endpoint"
	Secret    Type = "secret"
	All       Type = "all"
)

// Types lists the values ParseType accepts.
var Types = []Type{Bootstrap, Cluster, Listener, Route, Endpoint, Secret, All}

// ParseType validates a -t value.
func ParseType(s string) (Type, error) {
	for _, t := range Types {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown config type %q (want bootstrap, cluster, listener, route, endpoint, secret or all)", s)
}

// Render returns the section t of res (bs is only used for bootstrap and
// all; nil leaves the bootstrap out). For All it returns {"configs": [...]}
// with egctl's order: bootstrap, endpoints, clusters, listeners, routes, and
// secrets when there are any.
func Render(res *xdstypes.Resources, bs *bootstrapv3.Bootstrap, t Type) (any, error) {
	r := newRenderer()
	if t != All {
		m, err := r.section(res, bs, t)
		if err != nil {
			return nil, err
		}
		return r.toJSON(m)
	}
	var configs []any
	for _, st := range Sections(res, bs) {
		m, err := r.section(res, bs, st)
		if err != nil {
			return nil, err
		}
		v, err := r.toJSON(m)
		if err != nil {
			return nil, err
		}
		configs = append(configs, v)
	}
	return map[string]any{"configs": configs}, nil
}

// Sections lists the sections `all` renders, in egctl's order: bootstrap
// (when bs is not nil), endpoints, clusters, listeners, routes, and secrets
// when there are any.
func Sections(res *xdstypes.Resources, bs *bootstrapv3.Bootstrap) []Type {
	var order []Type
	if bs != nil {
		order = append(order, Bootstrap)
	}
	order = append(order, Endpoint, Cluster, Listener, Route)
	if len(res.Secrets) > 0 {
		order = append(order, Secret)
	}
	return order
}

// section returns the typed ConfigDump message of one type.
func (r *renderer) section(res *xdstypes.Resources, bs *bootstrapv3.Bootstrap, t Type) (proto.Message, error) {
	switch t {
	case Bootstrap:
		if bs == nil {
			return nil, fmt.Errorf("no bootstrap")
		}
		return &adminv3.BootstrapConfigDump{Bootstrap: bs}, nil
	case Cluster:
		d := &adminv3.ClustersConfigDump{}
		for _, c := range res.Clusters {
			d.DynamicActiveClusters = append(d.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{Cluster: r.pack(c)})
		}
		return d, nil
	case Listener:
		d := &adminv3.ListenersConfigDump{}
		for _, l := range res.Listeners {
			d.DynamicListeners = append(d.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
				ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{Listener: r.pack(l)},
			})
		}
		return d, nil
	case Route:
		d := &adminv3.RoutesConfigDump{}
		for _, rc := range res.Routes {
			d.DynamicRouteConfigs = append(d.DynamicRouteConfigs, &adminv3.RoutesConfigDump_DynamicRouteConfig{RouteConfig: r.pack(rc)})
		}
		return d, nil
	case Endpoint:
		d := &adminv3.EndpointsConfigDump{}
		for _, e := range res.Endpoints {
			d.DynamicEndpointConfigs = append(d.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{EndpointConfig: r.pack(e)})
		}
		return d, nil
	case Secret:
		d := &adminv3.SecretsConfigDump{}
		for _, s := range res.Secrets {
			d.DynamicActiveSecrets = append(d.DynamicActiveSecrets, &adminv3.SecretsConfigDump_DynamicSecret{Name: s.GetName(), Secret: r.pack(redacted(s))})
		}
		return d, nil
	}
	return nil, fmt.Errorf("unknown config type %q", t)
}

// toJSON renders m as an Any (so it carries "@type") into generic values.
func (r *renderer) toJSON(m proto.Message) (any, error) {
	return r.toGeneric(r.pack(m).ProtoReflect())
}

func protoUnmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }

// redacted returns a copy of the secret without its private key, the way
// Envoy's admin config_dump shows secrets: a dump is something people paste
// into issues, and a key must never travel that way.
func redacted(s *tlsv3.Secret) *tlsv3.Secret {
	c := proto.Clone(s).(*tlsv3.Secret)
	if tc := c.GetTlsCertificate(); tc != nil && tc.PrivateKey != nil {
		tc.PrivateKey = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}}
	}
	return c
}
