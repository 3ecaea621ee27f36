package proxy

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/listener"
)

// StaticResources are a bootstrap's static listeners and clusters: what
// Envoy Gateway's bootstrap declares besides xDS (the :19001 listener
// that routes /stats/prometheus to the prometheus_stats cluster, the
// admin address). They are served from the start, beside what xDS sends.
type StaticResources struct {
	Listeners []*listenerv3.Listener
	// Clusters are the static clusters the static listeners route to:
	// STATIC clusters (the xDS cluster itself is the ADS connection's, not
	// one to serve).
	Clusters []*clusterv3.Cluster
}

// static is StaticResources compiled.
type static struct {
	listeners []*listener.Config
	clusters  map[string]*cluster.Config
}

// compileStatic compiles the static resources, refusing what the proxy
// cannot serve from a bootstrap: listeners that need RDS or SDS, clusters
// that are not STATIC.
func compileStatic(r StaticResources, bc filters.BuildContext) (*static, error) {
	st := &static{clusters: map[string]*cluster.Config{}}
	for _, c := range r.Clusters {
		if c.GetType() != clusterv3.Cluster_STATIC {
			return nil, fmt.Errorf("static cluster %s: only STATIC clusters are served from the bootstrap", c.GetName())
		}
		cc, _, err := cluster.Compile(c)
		if err != nil {
			return nil, fmt.Errorf("static cluster: %w", err)
		}
		if len(cc.SDSNames()) > 0 {
			return nil, fmt.Errorf("static cluster %s: secrets (SDS) are not supported in static resources", c.GetName())
		}
		cc.SetStats(cluster.NewStats(bc.Stats, c.GetName()))
		st.clusters[c.GetName()] = cc
	}
	addrs := map[string]string{}
	for _, l := range r.Listeners {
		lc, _, err := listener.Compile(l, bc)
		if err != nil {
			return nil, fmt.Errorf("static listener: %w", err)
		}
		if len(lc.RDSNames()) > 0 || len(lc.SDSNames()) > 0 {
			return nil, fmt.Errorf("static listener %s: routes (RDS) and secrets (SDS) from xDS are not supported in static resources", l.GetName())
		}
		if other, dup := addrs[lc.Addr()]; dup {
			return nil, fmt.Errorf("static listeners %s and %s share address %s", other, l.GetName(), lc.Addr())
		}
		addrs[lc.Addr()] = l.GetName()
		st.listeners = append(st.listeners, lc)
	}
	return st, nil
}

// addrs are the static listeners' addresses.
func (st *static) addrs() []string {
	var out []string
	for _, l := range st.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// link adds the static clusters to clusters (a dynamic cluster of the
// same name keeps its place: Envoy refuses to replace a static one, and
// Envoy Gateway never sends one) and the static listeners' runtimes to
// rts, and marks the hosts they use.
func (st *static) link(p *Proxy, rts map[string]*listener.Runtime, clusters cluster.Set, used map[*cluster.Host]bool) {
	for name, cc := range st.clusters {
		if clusters[name] != nil {
			continue
		}
		c := cluster.New(cc, cc.StaticEndpoints(), p.pool)
		for _, h := range c.Hosts() {
			used[h] = true
		}
		clusters[name] = c
	}
	for _, l := range st.listeners {
		rt, _ := l.Link(nil, nil, clusters, p.alog)
		rts[l.Addr()] = rt
	}
}

// serveStatic binds and serves the static listeners before any xDS
// config, as Envoy does: a scrape of :19001 works while the proxy waits
// for its control plane.
func (p *Proxy) serveStatic() error {
	if len(p.static.listeners) == 0 {
		return nil
	}
	if err := p.socks.Prepare(p.static.addrs()); err != nil {
		return fmt.Errorf("static listener: %w", err)
	}
	rts := map[string]*listener.Runtime{}
	clusters := cluster.Set{}
	used := map[*cluster.Host]bool{}
	p.static.link(p, rts, clusters, used)
	p.socks.Commit(rts)
	p.pool.Retain(used)
	return nil
}
