package proxy

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"crypto/tls"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// xDS type URLs the proxy subscribes to.
const (
	typeLDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	typeCDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeEDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	typeSDS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

var shortType = map[string]string{typeLDS: "LDS", typeRDS: "RDS", typeCDS: "CDS", typeEDS: "EDS", typeSDS: "SDS"}

// dependent lists the types subscribed by name, as LDS and CDS require.
var dependent = []string{typeRDS, typeEDS, typeSDS}

// xdsState is the accepted, compiled config, owned by the ADS goroutine.
// Compilation happens when a response arrives, so every error is a NACK of
// that response and the previous state stays untouched.
type xdsState struct {
	listeners map[string]*listenerCfg
	clusters  map[string]*clusterCfg
	routes    map[string]*routeTable
	endpoints map[string]*endpointSet
	secrets   map[string]*secret
	versions  map[string]string
	// memo is each type's compile cache (see compileResources).
	memo map[string]*compileMemo
	// resVersions are the accepted resources' versions per type (delta).
	resVersions map[string]map[string]string
}

func newState() *xdsState {
	return &xdsState{listeners: map[string]*listenerCfg{}, clusters: map[string]*clusterCfg{},
		routes: map[string]*routeTable{}, endpoints: map[string]*endpointSet{}, secrets: map[string]*secret{},
		versions: map[string]string{}, memo: map[string]*compileMemo{}, resVersions: map[string]map[string]string{}}
}

// compiled is a response's resources after compilation, not yet applied.
type compiled struct {
	listeners map[string]*listenerCfg
	clusters  map[string]*clusterCfg
	routes    map[string]*routeTable
	endpoints map[string]*endpointSet
	secrets   map[string]*secret
	warnings  []string
	// warnByName are the warnings by resource, for delta responses, which
	// carry only the resources that changed.
	warnByName map[string][]string
}

// compileResources compiles a response. A resource whose bytes equal one
// compiled before (the same name in an earlier response, usually: a SotW
// response resends every cluster when one changes) reuses that result, as
// compiled configs are immutable; so a push costs what changed, not the
// size of the config. memo is the type's cache, replaced by what this
// response used once it compiles.
func compileResources(typeURL string, res []*anypb.Any, bc filters.BuildContext, memo *compileMemo) (*compiled, error) {
	c := &compiled{}
	seen := map[string]bool{}
	next := compileMemo{whole: make(map[string]compiledOne, len(res))}
	if typeURL == typeRDS {
		next.vhosts = make(map[string]compiledVhost, len(memo.vhosts))
	}
	for _, a := range res {
		if a.GetTypeUrl() != typeURL {
			return nil, fmt.Errorf("resource of type %s in a %s response", a.GetTypeUrl(), typeURL)
		}
		e, ok := memo.whole[string(a.GetValue())]
		if !ok {
			var err error
			if e, err = compileOne(typeURL, a, bc, memo.vhosts); err != nil {
				return nil, err
			}
			maps.Copy(next.vhosts, e.hosts)
		} else if typeURL == typeRDS {
			// Keep the virtual hosts of a configuration reused whole.
			maps.Copy(next.vhosts, e.hosts)
		}
		if seen[e.name] {
			return nil, fmt.Errorf("duplicate resource %q", e.name)
		}
		seen[e.name] = true
		next.whole[string(a.GetValue())] = e
		c.add(typeURL, e)
	}
	*memo = next
	return c, nil
}

// compileMemo maps a resource's bytes to its compilation, and for route
// configurations, a virtual host's bytes to its (compileRouteBytes).
type compileMemo struct {
	whole  map[string]compiledOne
	vhosts map[string]compiledVhost
}

// compiledOne is one resource compiled: its name, the *listenerCfg,
// *clusterCfg, *routeTable, *endpointSet or *secret, and its warnings.
type compiledOne struct {
	name     string
	v        any
	warnings []string
	// hosts are a route configuration's virtual hosts by their bytes.
	hosts map[string]compiledVhost
}

func (c *compiled) add(typeURL string, e compiledOne) {
	switch typeURL {
	case typeLDS:
		if c.listeners == nil {
			c.listeners = map[string]*listenerCfg{}
		}
		c.listeners[e.name] = e.v.(*listenerCfg)
	case typeCDS:
		if c.clusters == nil {
			c.clusters = map[string]*clusterCfg{}
		}
		c.clusters[e.name] = e.v.(*clusterCfg)
	case typeRDS:
		if c.routes == nil {
			c.routes = map[string]*routeTable{}
		}
		c.routes[e.name] = e.v.(*routeTable)
	case typeEDS:
		if c.endpoints == nil {
			c.endpoints = map[string]*endpointSet{}
		}
		c.endpoints[e.name] = e.v.(*endpointSet)
	case typeSDS:
		if c.secrets == nil {
			c.secrets = map[string]*secret{}
		}
		c.secrets[e.name] = e.v.(*secret)
	}
	c.warnings = append(c.warnings, e.warnings...)
	if len(e.warnings) > 0 {
		if c.warnByName == nil {
			c.warnByName = map[string][]string{}
		}
		c.warnByName[e.name] = e.warnings
	}
}

func compileOne(typeURL string, a *anypb.Any, bc filters.BuildContext, prevHosts map[string]compiledVhost) (compiledOne, error) {
	switch typeURL {
	case typeLDS:
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			return compiledOne{}, err
		}
		lc, warn, err := compileListener(&l, bc)
		return compiledOne{name: l.GetName(), v: lc, warnings: warn}, err
	case typeCDS:
		var cl clusterv3.Cluster
		if err := a.UnmarshalTo(&cl); err != nil {
			return compiledOne{}, err
		}
		cc, warn, err := compileCluster(&cl)
		return compiledOne{name: cl.GetName(), v: cc, warnings: warn}, err
	case typeRDS:
		hosts := map[string]compiledVhost{}
		t, err := compileRouteBytes(a.GetValue(), prevHosts, hosts)
		if err != nil {
			return compiledOne{}, err
		}
		return compiledOne{name: t.name, v: t, hosts: hosts}, nil
	case typeEDS:
		var cla endpointv3.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			return compiledOne{}, err
		}
		set, err := compileEndpoints(&cla, false)
		if err != nil {
			return compiledOne{}, fmt.Errorf("cluster load assignment %s: %v", cla.GetClusterName(), err)
		}
		return compiledOne{name: cla.GetClusterName(), v: set}, nil
	case typeSDS:
		var sec tlsv3.Secret
		if err := a.UnmarshalTo(&sec); err != nil {
			return compiledOne{}, err
		}
		cs, err := compileSecret(&sec)
		return compiledOne{name: sec.GetName(), v: cs}, err
	}
	return compiledOne{}, fmt.Errorf("unexpected type %s", typeURL)
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
		keepSubscribed(s.routes, c.routes, subs[typeRDS])
	case typeEDS:
		keepSubscribed(s.endpoints, c.endpoints, subs[typeEDS])
	case typeSDS:
		keepSubscribed(s.secrets, c.secrets, subs[typeSDS])
	}
	if typeURL == typeLDS || typeURL == typeCDS {
		s.prune(subs)
	}
}

// keepSubscribed stores a named-type response's resources, leaving out any
// the proxy did not ask for (names is sorted).
func keepSubscribed[T any](into, from map[string]T, names []string) {
	for k, v := range from {
		if _, ok := slices.BinarySearch(names, k); ok {
			into[k] = v
		}
	}
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
	rk, ek, sk := keep(subs[typeRDS]), keep(subs[typeEDS]), keep(subs[typeSDS])
	for k := range s.secrets {
		if !sk[k] {
			delete(s.secrets, k)
		}
	}
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

// subscriptions lists the RDS, EDS and SDS names the current LDS/CDS need.
func (s *xdsState) subscriptions() map[string][]string {
	sets := map[string]map[string]bool{typeRDS: {}, typeEDS: {}, typeSDS: {}}
	for _, l := range s.listeners {
		for _, n := range l.rdsNames() {
			sets[typeRDS][n] = true
		}
		for _, n := range l.sdsNames() {
			sets[typeSDS][n] = true
		}
	}
	for _, c := range s.clusters {
		if c.eds {
			sets[typeEDS][c.edsName] = true
		}
		for _, n := range c.sdsNames() {
			sets[typeSDS][n] = true
		}
	}
	out := map[string][]string{}
	for t, set := range sets {
		for n := range set {
			out[t] = append(out[t], n)
		}
		sort.Strings(out[t])
	}
	return out
}

// missing lists what is still needed before the config can be served
// without warming holes (Envoy's cluster and listener warming).
func (s *xdsState) missing() []string { return s.missingOf(s.subscriptions()) }

// missingOf is missing with the subscriptions already computed.
func (s *xdsState) missingOf(subs map[string][]string) []string {
	var out []string
	have := map[string]func(string) bool{
		typeRDS: func(n string) bool { _, ok := s.routes[n]; return ok },
		typeEDS: func(n string) bool { _, ok := s.endpoints[n]; return ok },
		typeSDS: func(n string) bool { _, ok := s.secrets[n]; return ok },
	}
	for _, t := range dependent {
		for _, n := range subs[t] {
			if !have[t](n) {
				out = append(out, shortType[t]+" "+n)
			}
		}
	}
	return out
}

// runtime links the state into per-address socket runtimes. Missing RDS
// means an empty route table (404s), missing EDS or TLS secrets an empty
// cluster (503s), and a chain whose certificate is missing is not served:
// what Envoy does after its initial fetch timeout.
func (s *xdsState) runtime(pool *hostPool, log *accessLogger) (map[string]*socketRT, upstreams, map[*host]bool, []string) {
	var problems []string
	used := map[*host]bool{}
	clusters := make(map[string]*clusterRT, len(s.clusters))
	for name, cc := range s.clusters {
		set := cc.staticSet
		if cc.eds {
			set = s.endpoints[cc.edsName]
		}
		resolved, err := cc.withSecrets(s.secrets)
		if err != nil {
			problems = append(problems, "cluster "+name+": "+err.Error())
			resolved, set = cc, nil
		}
		if set == nil {
			set = &endpointSet{}
		}
		crt := newClusterRT(resolved, set, pool)
		for _, h := range crt.hosts {
			used[h] = true
		}
		clusters[name] = crt
	}
	chainRT := func(c *chainCfg) (*listenerRT, *tls.Config) {
		t := c.hcm.inline
		if t == nil {
			t = s.routes[c.hcm.rdsName]
		}
		if t == nil {
			t = emptyTable
		}
		lr := &listenerRT{hcm: c.hcm, routes: t, clusters: clusters, log: log}
		if c.tls == nil {
			return lr, nil
		}
		tc, err := c.tls.serverConfig(s.secrets)
		if err != nil {
			problems = append(problems, "filter chain "+c.name+": "+err.Error())
			return nil, nil
		}
		return lr, tc
	}
	out := map[string]*socketRT{}
	for _, l := range s.listeners {
		srt := &socketRT{cfg: l}
		for _, c := range l.chains {
			lr, tc := chainRT(c)
			srt.chains = append(srt.chains, lr)
			srt.tls = append(srt.tls, tc)
		}
		if l.def != nil {
			srt.def, srt.defTLS = chainRT(l.def)
		}
		out[l.addr] = srt
	}
	sort.Strings(problems)
	return out, clusters, used, problems
}

// memoFor returns a type's compile cache.
func (s *xdsState) memoFor(typeURL string) *compileMemo {
	m := s.memo[typeURL]
	if m == nil {
		m = &compileMemo{}
		s.memo[typeURL] = m
	}
	return m
}
