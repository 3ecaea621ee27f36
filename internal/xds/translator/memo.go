package translator

import (
	"runtime"
	"slices"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/treeequal"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Memo carries a fleet's clusters, routes and virtual hosts from one
// translation to the next, so that a route edit among 1000 does not
// rebuild 1000 of each and, more to the point, hands the xDS server the
// very same messages, whose encodings it already holds. Each is reused
// only when its whole input is deeply equal to the previous one (a
// cluster's name, settings and metadata; a route's IR; a virtual host's
// routes and metadata), so the output is exactly what a fresh translation
// gives (a test checks this byte for byte over a sequence of edits).
//
// Reused messages are shared between translations: nothing may modify a
// translation's resources in place (patches and hooks build new ones), as
// go-control-plane already requires of anything given to its cache. A Memo
// serves one fleet and one Translate call at a time.
type Memo struct {
	clusters map[string]clusterMemo
	routes   map[string]routeMemo // by listener and route name
	vhosts   map[string]vhostMemo // by listener and hostname
}

// routeMemo is a built route with what building it asked of the Sink, to
// be asked again when the route is reused: the clusters (through
// addCluster, whether built, reused or already there) and the secrets
// its filters added, in order.
type routeMemo struct {
	ir    *ir.HTTPRoute
	route *routev3.Route
	ops   []routeOp
	// invalid marks a capture that saw a Sink call it cannot replay.
	invalid bool
}

type routeOp struct {
	cluster *clusterMemo
	secret  *tlsv3.Secret
}

type clusterMemo struct {
	spec    clusterSpec
	c       *clusterv3.Cluster
	cla     *endpointv3.ClusterLoadAssignment
	secrets []*tlsv3.Secret
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo {
	return &Memo{clusters: map[string]clusterMemo{}, routes: map[string]routeMemo{}, vhosts: map[string]vhostMemo{}}
}

// TranslateMemo is Translate, reusing what m remembers from the previous
// call and remembering this one's clusters (m may be nil: Translate).
func TranslateMemo(x *ir.Xds, m *Memo) (*xdstypes.Resources, error) {
	s := newSink()
	if m != nil {
		s.memo = &memoRun{prev: m.clusters, next: make(map[string]clusterMemo, len(m.clusters)),
			routePrev: m.routes, routeNext: make(map[string]routeMemo, len(m.routes)),
			vhostPrev: m.vhosts, vhostNext: make(map[string]vhostMemo, len(m.vhosts))}
	}
	res, err := translate(x, s)
	if m != nil {
		m.clusters, m.routes, m.vhosts = s.memo.next, s.memo.routeNext, s.memo.vhostNext
	}
	return res, err
}

// memoRun is a Memo during one translation.
type memoRun struct {
	prev, next map[string]clusterMemo
	// capture, while a cluster is built, collects every secret it asks
	// for (including ones another cluster added first), to be asked
	// for again when the cluster is reused.
	capture *[]*tlsv3.Secret

	routePrev, routeNext map[string]routeMemo
	vhostPrev, vhostNext map[string]vhostMemo
	// route is the capture of the route being built (nil: none);
	// inAddCluster is set while addCluster runs, whose Sink calls the
	// capture records as one cluster op.
	route        *routeMemo
	inAddCluster bool
}

// usedCluster records, in a route capture, that the route asked for the
// named cluster (built, reused or already added this run).
func (r *memoRun) usedCluster(name string) {
	if r == nil || r.route == nil {
		return
	}
	e, ok := r.next[name]
	if !ok {
		r.route.invalid = true
		return
	}
	r.route.ops = append(r.route.ops, routeOp{cluster: &e})
}

// sinkCall records, in a route capture, a Sink call made outside
// addCluster: secrets are replayable, anything else is not.
func (r *memoRun) sinkCall(sec *tlsv3.Secret) {
	if r == nil || r.route == nil || r.inAddCluster {
		return
	}
	if sec == nil {
		r.route.invalid = true
		return
	}
	r.route.ops = append(r.route.ops, routeOp{secret: sec})
}

func routeKey(l *ir.HTTPListener, name string) string { return l.Name + "\x00" + name }

// buildRouteMemo is buildRoute through the memo. A route's output depends
// on its IR alone (route filters read RouteContext.IR only; see there),
// so a deeply equal IR gives the previous route, with its Sink calls
// replayed.
// reusable is what reusableRoutes found for this route.
func buildRouteMemo(x *ir.Xds, l *ir.HTTPListener, r *ir.HTTPRoute, s *Sink, reusable bool) (*routev3.Route, error) {
	m := s.memo
	if m == nil {
		return buildRoute(x, l, r, s)
	}
	key := routeKey(l, r.Name)
	if e, ok := m.routePrev[key]; ok && reusable {
		for _, op := range e.ops {
			if op.secret != nil {
				s.AddSecret(op.secret)
				continue
			}
			c := op.cluster
			if !s.HasCluster(c.spec.name) {
				for _, sec := range c.secrets {
					s.AddSecret(sec)
				}
				s.AddCluster(c.c, c.cla)
			}
			m.next[c.spec.name] = *c
		}
		m.routeNext[key] = e
		return e.route, nil
	}
	capture := &routeMemo{ir: r}
	m.route = capture
	route, err := buildRoute(x, l, r, s)
	m.route = nil
	if err == nil && !capture.invalid {
		capture.route = route
		m.routeNext[key] = *capture
	}
	return route, err
}

// reusableRoutes reports, for each of the listener's routes, whether the
// memo holds a route built from deeply equal IR. The comparisons are most
// of a reload's translation when little changed and are independent, so
// they are spread over the cores; building stays sequential, in order.
func (r *memoRun) reusableRoutes(l *ir.HTTPListener) []bool {
	out := make([]bool, len(l.Routes))
	if r == nil || len(r.routePrev) == 0 {
		return out
	}
	check := func(i int) {
		if rt := l.Routes[i]; rt != nil {
			e, ok := r.routePrev[routeKey(l, rt.Name)]
			out[i] = ok && treeequal.Equal(e.ir, rt)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(l.Routes)/128+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(l.Routes); i += workers {
				check(i)
			}
		}()
	}
	wg.Wait()
	return out
}

// reuseVhost returns the previous virtual host of the listener and
// hostname when the new one is built from the same input: the same name
// and domains, the very same route messages in order, and deeply equal
// listener metadata (what addVirtualHosts builds a virtual host from;
// keep the two in step). Otherwise it returns vh.
func reuseVhost(s *Sink, l *ir.HTTPListener, hostname string, vh *routev3.VirtualHost) *routev3.VirtualHost {
	m := s.memo
	if m == nil {
		return vh
	}
	key := routeKey(l, hostname)
	out := vhostMemo{vh: vh, meta: l.Metadata}
	if p, ok := m.vhostPrev[key]; ok && p.vh.GetName() == vh.GetName() && slices.Equal(p.vh.GetDomains(), vh.GetDomains()) &&
		slices.Equal(p.vh.GetRoutes(), vh.GetRoutes()) && treeequal.Equal(p.meta, l.Metadata) {
		out = p
	}
	m.vhostNext[key] = out
	return out.vh
}

// vhostMemo is a virtual host with the listener metadata it was built with.
type vhostMemo struct {
	vh   *routev3.VirtualHost
	meta *ir.ResourceMetadata
}

// buildClusterMemo is buildCluster through the memo.
func buildClusterMemo(spec clusterSpec, s *Sink) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment, error) {
	r := s.memo
	if r == nil {
		return buildCluster(spec, s)
	}
	if e, ok := r.prev[spec.name]; ok && treeequal.Equal(e.spec, spec) {
		for _, sec := range e.secrets {
			s.AddSecret(sec)
		}
		r.next[spec.name] = e
		return e.c, e.cla, nil
	}
	var secrets []*tlsv3.Secret
	r.capture = &secrets
	c, cla, err := buildCluster(spec, s)
	r.capture = nil
	if err == nil {
		r.next[spec.name] = clusterMemo{spec: spec, c: c, cla: cla, secrets: secrets}
	}
	return c, cla, err
}
