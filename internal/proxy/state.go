package proxy

import (
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// xDS type URLs the proxy subscribes to.
const (
	typeLDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	typeCDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeEDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

var shortType = map[string]string{typeLDS: "LDS", typeRDS: "RDS", typeCDS: "CDS", typeEDS: "EDS"}

// xdsState is the accepted, compiled config, owned by the ADS goroutine.
// Compilation happens when a response arrives, so every error is a NACK of
// that response and the previous state stays untouched.
type xdsState struct {
	listeners map[string]*listenerCfg
	clusters  map[string]*clusterCfg
	routes    map[string]*routeTable
	endpoints map[string]*endpointSet
	versions  map[string]string
}

func newState() *xdsState {
	return &xdsState{listeners: map[string]*listenerCfg{}, clusters: map[string]*clusterCfg{},
		routes: map[string]*routeTable{}, endpoints: map[string]*endpointSet{}, versions: map[string]string{}}
}

// compiled is a response's resources after compilation, not yet applied.
type compiled struct {
	listeners map[string]*listenerCfg
	clusters  map[string]*clusterCfg
	routes    map[string]*routeTable
	endpoints map[string]*endpointSet
	warnings  []string
}

func compileResources(typeURL string, res []*anypb.Any, bc filters.BuildContext) (*compiled, error) {
	c := &compiled{}
	seen := map[string]bool{}
	dup := func(n string) error {
		if seen[n] {
			return fmt.Errorf("duplicate resource %q", n)
		}
		seen[n] = true
		return nil
	}
	for _, a := range res {
		if a.GetTypeUrl() != typeURL {
			return nil, fmt.Errorf("resource of type %s in a %s response", a.GetTypeUrl(), typeURL)
		}
		switch typeURL {
		case typeLDS:
			var l listenerv3.Listener
			if err := a.UnmarshalTo(&l); err != nil {
				return nil, err
			}
			if err := dup(l.GetName()); err != nil {
				return nil, err
			}
			lc, warn, err := compileListener(&l, bc)
			if err != nil {
				return nil, err
			}
			if c.listeners == nil {
				c.listeners = map[string]*listenerCfg{}
			}
			c.listeners[l.GetName()] = lc
			c.warnings = append(c.warnings, warn...)
		case typeCDS:
			var cl clusterv3.Cluster
			if err := a.UnmarshalTo(&cl); err != nil {
				return nil, err
			}
			if err := dup(cl.GetName()); err != nil {
				return nil, err
			}
			cc, warn, err := compileCluster(&cl)
			if err != nil {
				return nil, err
			}
			if c.clusters == nil {
				c.clusters = map[string]*clusterCfg{}
			}
			c.clusters[cl.GetName()] = cc
			c.warnings = append(c.warnings, warn...)
		case typeRDS:
			var rc routev3.RouteConfiguration
			if err := a.UnmarshalTo(&rc); err != nil {
				return nil, err
			}
			if err := dup(rc.GetName()); err != nil {
				return nil, err
			}
			t, err := compileRouteConfig(&rc)
			if err != nil {
				return nil, err
			}
			if c.routes == nil {
				c.routes = map[string]*routeTable{}
			}
			c.routes[rc.GetName()] = t
		case typeEDS:
			var cla endpointv3.ClusterLoadAssignment
			if err := a.UnmarshalTo(&cla); err != nil {
				return nil, err
			}
			if err := dup(cla.GetClusterName()); err != nil {
				return nil, err
			}
			set, err := compileEndpoints(&cla, false)
			if err != nil {
				return nil, fmt.Errorf("cluster load assignment %s: %v", cla.GetClusterName(), err)
			}
			if c.endpoints == nil {
				c.endpoints = map[string]*endpointSet{}
			}
			c.endpoints[cla.GetClusterName()] = set
		default:
			return nil, fmt.Errorf("unexpected type %s", typeURL)
		}
	}
	return c, nil
}

// apply merges an accepted response. LDS and CDS are state of the world;
// RDS and EDS responses update the resources they carry, and resources we
// no longer subscribe to are dropped.
func (s *xdsState) apply(typeURL string, c *compiled, subs map[string][]string) {
	switch typeURL {
	case typeLDS:
		s.listeners = orEmpty(c.listeners)
	case typeCDS:
		s.clusters = orEmpty(c.clusters)
	case typeRDS:
		for k, v := range c.routes {
			s.routes[k] = v
		}
	case typeEDS:
		for k, v := range c.endpoints {
			s.endpoints[k] = v
		}
	}
	s.prune(subs)
}

func orEmpty[T any](m map[string]T) map[string]T {
	if m == nil {
		return map[string]T{}
	}
	return m
}

// prune drops RDS/EDS entries no longer referenced.
func (s *xdsState) prune(subs map[string][]string) {
	keep := func(names []string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	rk, ek := keep(subs[typeRDS]), keep(subs[typeEDS])
	for k := range s.routes {
		if !rk[k] {
			delete(s.routes, k)
		}
	}
	for k := range s.endpoints {
		if !ek[k] {
			delete(s.endpoints, k)
		}
	}
}

// subscriptions lists the RDS and EDS names the current LDS/CDS need.
func (s *xdsState) subscriptions() map[string][]string {
	var rds, eds []string
	seen := map[string]bool{}
	for _, l := range s.listeners {
		if n := l.hcm.rdsName; n != "" && !seen["r"+n] {
			seen["r"+n] = true
			rds = append(rds, n)
		}
	}
	for _, c := range s.clusters {
		if c.eds && !seen["e"+c.edsName] {
			seen["e"+c.edsName] = true
			eds = append(eds, c.edsName)
		}
	}
	sort.Strings(rds)
	sort.Strings(eds)
	return map[string][]string{typeRDS: rds, typeEDS: eds}
}

// missing lists what is still needed before the config can be served
// without warming holes (Envoy's cluster and listener warming).
func (s *xdsState) missing() []string {
	var out []string
	for _, c := range s.clusters {
		if _, ok := s.endpoints[c.edsName]; c.eds && !ok {
			out = append(out, "EDS "+c.edsName)
		}
	}
	for _, l := range s.listeners {
		if _, ok := s.routes[l.hcm.rdsName]; l.hcm.rdsName != "" && !ok {
			out = append(out, "RDS "+l.hcm.rdsName)
		}
	}
	sort.Strings(out)
	return out
}

// runtime links the state into per-address listener runtimes. Missing RDS
// means an empty route table (404s) and missing EDS an empty cluster (503s),
// which is what Envoy serves after its initial fetch timeout.
func (s *xdsState) runtime(pool *hostPool, log *accessLogger) (map[string]*listenerRT, map[*host]bool) {
	used := map[*host]bool{}
	clusters := make(map[string]*clusterRT, len(s.clusters))
	for name, cc := range s.clusters {
		set := cc.staticSet
		if cc.eds {
			set = s.endpoints[cc.edsName]
			if set == nil {
				set = &endpointSet{}
			}
		}
		crt := newClusterRT(cc, set, pool)
		for _, h := range crt.hosts {
			used[h] = true
		}
		clusters[name] = crt
	}
	out := map[string]*listenerRT{}
	for _, l := range s.listeners {
		t := l.hcm.inline
		if t == nil {
			t = s.routes[l.hcm.rdsName]
		}
		if t == nil {
			t = emptyTable
		}
		out[l.addr] = &listenerRT{cfg: l, routes: t, clusters: clusters, log: log}
	}
	return out, used
}
