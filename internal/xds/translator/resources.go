package translator

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Sink collects resources while translating; it keeps the first resource of
// each name, in insertion order. Filters use it to add the clusters and
// secrets they need.
type Sink struct {
	res       xdstypes.Resources
	listeners map[string]bool
	routes    map[string]bool
	clusters  map[string]bool
	endpoints map[string]bool
	secrets   map[string]bool
	memo      *memoRun // nil: no memo
	// pending are clusters HTTP filters need (ext_authz services, JWKS
	// servers), added after the routes of the port that needs them, which
	// is where Envoy Gateway lists them.
	pending []clusterSpec
}

// addClusterAfterRoutes queues a cluster a filter needs.
func (s *Sink) addClusterAfterRoutes(spec clusterSpec) { s.pending = append(s.pending, spec) }

// flushPending adds the queued clusters.
func (s *Sink) flushPending(e *errs) {
	for _, spec := range s.pending {
		if err := addCluster(spec, s); err != nil {
			e.add("Cluster", spec.name, err)
		}
	}
	s.pending = nil
}

func newSink() *Sink {
	return &Sink{
		listeners: map[string]bool{},
		routes:    map[string]bool{},
		clusters:  map[string]bool{},
		endpoints: map[string]bool{},
		secrets:   map[string]bool{},
	}
}

// AddListener adds l unless a listener of that name exists; it reports
// whether l was added.
func (s *Sink) AddListener(l *listenerv3.Listener) bool {
	s.memo.sinkCall(nil)
	if s.listeners[l.GetName()] {
		return false
	}
	s.listeners[l.GetName()] = true
	s.res.Listeners = append(s.res.Listeners, l)
	return true
}

// AddRouteConfig adds rc unless one of that name exists.
func (s *Sink) AddRouteConfig(rc *routev3.RouteConfiguration) bool {
	s.memo.sinkCall(nil)
	if s.routes[rc.GetName()] {
		return false
	}
	s.routes[rc.GetName()] = true
	s.res.Routes = append(s.res.Routes, rc)
	return true
}

// HasCluster reports whether a cluster of that name was added.
func (s *Sink) HasCluster(name string) bool { return s.clusters[name] }

// AddCluster adds c (and its load assignment when not nil) unless a
// cluster of that name exists.
func (s *Sink) AddCluster(c *clusterv3.Cluster, cla *endpointv3.ClusterLoadAssignment) bool {
	s.memo.sinkCall(nil)
	if s.clusters[c.GetName()] {
		return false
	}
	s.clusters[c.GetName()] = true
	s.res.Clusters = append(s.res.Clusters, c)
	if cla != nil && !s.endpoints[cla.GetClusterName()] {
		s.endpoints[cla.GetClusterName()] = true
		s.res.Endpoints = append(s.res.Endpoints, cla)
	}
	return true
}

// AddSecret adds sec unless a secret of that name exists. Envoy Gateway
// emits one Secret per listener that uses a certificate, so a certificate
// shared by two listeners appears twice there; here it appears once.
func (s *Sink) AddSecret(sec *tlsv3.Secret) bool {
	if s.memo != nil && s.memo.capture != nil {
		*s.memo.capture = append(*s.memo.capture, sec)
	}
	s.memo.sinkCall(sec)
	if s.secrets[sec.GetName()] {
		return false
	}
	s.secrets[sec.GetName()] = true
	s.res.Secrets = append(s.res.Secrets, sec)
	return true
}
