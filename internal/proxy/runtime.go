package proxy

import (
	"sort"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/listener"
	"github.com/portico-gw/portico/internal/proxy/route"
	"github.com/portico-gw/portico/internal/proxy/tlsconf"
	x "github.com/portico-gw/portico/internal/proxy/xdsclient"
)

// link makes the runtime of an accepted state: the clusters with their
// endpoints and secrets (hosts from the pool, and which hosts are in use),
// and each listener's runtime by bind address. Missing RDS means an
// empty route table (404s), missing EDS or TLS secrets an empty cluster
// (503s), and a chain whose certificate is missing is not served: what
// Envoy does after its initial fetch timeout. problems say which.
func link(s *x.State, pool *cluster.Pool, log *accesslog.Logger) (map[string]*listener.Runtime, cluster.Set, map[*cluster.Host]bool, []string) {
	secrets := values[*tlsconf.Secret](s.Resources(x.TypeSDS))
	endpoints := values[*cluster.Endpoints](s.Resources(x.TypeEDS))
	routes := values[*route.Table](s.Resources(x.TypeRDS))
	var problems []string
	used := map[*cluster.Host]bool{}
	clusters := make(cluster.Set, len(s.Resources(x.TypeCDS)))
	for name, r := range s.Resources(x.TypeCDS) {
		cc := r.Value.(*cluster.Config)
		set := cc.StaticEndpoints()
		if eds := cc.EDSName(); eds != "" {
			set = endpoints[eds]
		}
		resolved, err := cc.WithSecrets(secrets)
		if err != nil {
			problems = append(problems, "cluster "+name+": "+err.Error())
			resolved, set = cc, nil
		}
		if set == nil {
			set = &cluster.Endpoints{}
		}
		c := cluster.New(resolved, set, pool)
		for _, h := range c.Hosts() {
			used[h] = true
		}
		clusters[name] = c
	}
	out := map[string]*listener.Runtime{}
	for _, r := range s.Resources(x.TypeLDS) {
		l := r.Value.(*listener.Config)
		rt, pr := l.Link(secrets, routes, clusters, log)
		problems = append(problems, pr...)
		out[l.Addr()] = rt
	}
	sort.Strings(problems)
	return out, clusters, used, problems
}

// values are the compiled values of resources, by name.
func values[T any](res map[string]x.Resource) map[string]T {
	out := make(map[string]T, len(res))
	for n, r := range res {
		out[n] = r.Value.(T)
	}
	return out
}
