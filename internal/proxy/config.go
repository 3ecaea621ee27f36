package proxy

import (
	"fmt"
	"maps"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/listener"
	"github.com/portico-gw/portico/internal/proxy/route"
	"github.com/portico-gw/portico/internal/proxy/tlsconf"
	x "github.com/portico-gw/portico/internal/proxy/xdsclient"
)

// configs is the proxy's xdsclient.Handler: it compiles each type with
// its room's compiler (listener, route, cluster, tlsconf), binds new
// listener addresses before they are ACKed, and links an accepted state
// into the runtimes the sockets serve.
type configs struct {
	p *Proxy
	// memo is each type's compile cache (see Compile).
	memo map[string]*compileMemo
}

// compileMemo maps a resource's bytes to its compilation, and for route
// configurations, a virtual host's bytes to its (route.CompileBytes).
type compileMemo struct {
	whole  map[string]compiledOne
	vhosts route.Vhosts
}

// compiledOne is one resource compiled, with a route configuration's
// virtual hosts by their bytes.
type compiledOne struct {
	res   x.Resource
	hosts route.Vhosts
}

// Compile compiles a response. A resource whose bytes equal one compiled
// before (the same name in an earlier response, usually: a SotW response
// resends every cluster when one changes) reuses that result, as
// compiled configs are immutable; so a push costs what changed, not the
// size of the config. The type's cache is replaced by what this response
// used once it compiles.
func (c *configs) Compile(typeURL string, res []*anypb.Any) ([]x.Resource, error) {
	memo := c.memo[typeURL]
	if memo == nil {
		memo = &compileMemo{}
		c.memo[typeURL] = memo
	}
	bc := c.p.buildContext()
	out := make([]x.Resource, 0, len(res))
	seen := map[string]bool{}
	next := compileMemo{whole: make(map[string]compiledOne, len(res))}
	if typeURL == x.TypeRDS {
		next.vhosts = make(route.Vhosts, len(memo.vhosts))
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
		}
		// A configuration's virtual hosts, compiled or reused whole, are
		// the next response's to reuse.
		maps.Copy(next.vhosts, e.hosts)
		if seen[e.res.Name] {
			return nil, fmt.Errorf("duplicate resource %q", e.res.Name)
		}
		seen[e.res.Name] = true
		next.whole[string(a.GetValue())] = e
		out = append(out, e.res)
	}
	*memo = next
	return out, nil
}

func compileOne(typeURL string, a *anypb.Any, bc filters.BuildContext, prevHosts route.Vhosts) (compiledOne, error) {
	switch typeURL {
	case x.TypeLDS:
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			return compiledOne{}, err
		}
		lc, warn, err := listener.Compile(&l, bc)
		if err != nil {
			return compiledOne{}, err
		}
		needs := map[string][]string{x.TypeRDS: lc.RDSNames(), x.TypeSDS: lc.SDSNames()}
		return compiledOne{res: x.Resource{Name: l.GetName(), Value: lc, Warnings: warn, Needs: needs}}, nil
	case x.TypeCDS:
		var cl clusterv3.Cluster
		if err := a.UnmarshalTo(&cl); err != nil {
			return compiledOne{}, err
		}
		cc, warn, err := cluster.Compile(&cl)
		if err != nil {
			return compiledOne{}, err
		}
		cc.SetStats(cluster.NewStats(bc.Stats, cl.GetName()))
		needs := map[string][]string{x.TypeSDS: cc.SDSNames()}
		if n := cc.EDSName(); n != "" {
			needs[x.TypeEDS] = []string{n}
		}
		return compiledOne{res: x.Resource{Name: cl.GetName(), Value: cc, Warnings: warn, Needs: needs}}, nil
	case x.TypeRDS:
		hosts := route.Vhosts{}
		t, err := route.CompileBytes(a.GetValue(), prevHosts, hosts)
		if err != nil {
			return compiledOne{}, err
		}
		return compiledOne{res: x.Resource{Name: t.Name, Value: t}, hosts: hosts}, nil
	case x.TypeEDS:
		var cla endpointv3.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			return compiledOne{}, err
		}
		set, err := cluster.CompileEndpoints(&cla, false)
		if err != nil {
			return compiledOne{}, fmt.Errorf("cluster load assignment %s: %v", cla.GetClusterName(), err)
		}
		return compiledOne{res: x.Resource{Name: cla.GetClusterName(), Value: set}}, nil
	case x.TypeSDS:
		var sec tlsv3.Secret
		if err := a.UnmarshalTo(&sec); err != nil {
			return compiledOne{}, err
		}
		cs, err := tlsconf.CompileSecret(&sec)
		if err != nil {
			return compiledOne{}, err
		}
		return compiledOne{res: x.Resource{Name: sec.GetName(), Value: cs}}, nil
	}
	return compiledOne{}, fmt.Errorf("unexpected type %s", typeURL)
}

// Admit opens the sockets of a new LDS before it is ACKed, so a port that
// cannot be bound NACKs the update as Envoy does.
func (c *configs) Admit(typeURL string, all map[string]x.Resource) error {
	if typeURL != x.TypeLDS {
		return nil
	}
	byAddr := map[string]string{}
	for _, a := range c.p.static.addrs() {
		byAddr[a] = "(static)"
	}
	addrs := c.p.static.addrs()
	for _, name := range sortedKeys(all) {
		l := all[name].Value.(*listener.Config)
		if other, dup := byAddr[l.Addr()]; dup {
			return fmt.Errorf("listeners %s and %s share address %s", other, name, l.Addr())
		}
		byAddr[l.Addr()] = name
		addrs = append(addrs, l.Addr())
	}
	return c.p.socks.Prepare(addrs)
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Serve links the accepted state and serves it.
func (c *configs) Serve(s *x.State) {
	p := c.p
	rts, clusters, used, problems := link(s, p.pool, p.alog)
	p.static.link(p, rts, clusters, used)
	p.clusters.Store(&clusters)
	for _, pr := range problems {
		p.log.Warn("serving with a missing dependency", "detail", pr)
	}
	p.socks.Commit(rts)
	p.pool.Retain(used)
	p.ready.Store(true)
	p.update(func(st *Status) {
		st.Applied++
		st.Ready = true
		st.Listening = p.socks.Addrs()
	})
	p.log.Info("config applied", "versions", versionsString(s))
}

// Report records what became of a response in the status.
func (c *configs) Report(e x.Event) {
	c.p.update(func(st *Status) {
		if e.Rejected != "" {
			st.LastNACK, st.NACKs = e.Rejected, st.NACKs+1
			return
		}
		st.Versions[x.ShortType[e.Type]] = e.Version
		st.Warnings = e.Warnings
	})
}

func versionsString(s *x.State) string {
	var b []string
	for _, t := range []string{x.TypeLDS, x.TypeRDS, x.TypeCDS, x.TypeEDS, x.TypeSDS} {
		b = append(b, x.ShortType[t]+"="+s.Version(t))
	}
	return strings.Join(b, " ")
}
