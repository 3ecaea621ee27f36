package proxy

import (
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
)

// epSpec is one usable endpoint of a ClusterLoadAssignment.
type epSpec struct {
	network, addr string
	hostname      string // for auto_host_rewrite
	weight        uint64
	// socketMD is its envoy.transport_socket_match metadata, which picks
	// one of the cluster's transport_socket_matches.
	socketMD map[string]string
}

// endpointSet is a compiled ClusterLoadAssignment: only the endpoints of the
// highest priority (lowest number) that has any healthy endpoint. Locality
// weights are folded away: every endpoint is weighted by its own
// load_balancing_weight (Envoy Gateway puts one locality per backend and
// weights the endpoints), which is documented as a simplification.
type endpointSet struct {
	eps []epSpec
}

func compileEndpoints(cla *endpointv3.ClusterLoadAssignment, requireIP bool) (*endpointSet, error) {
	if err := checkFields("cluster load assignment", cla, "cluster_name", "endpoints", "policy"); err != nil {
		return nil, err
	}
	if p := cla.GetPolicy(); p != nil {
		// overprovisioning_factor only shapes priority spill-over, which
		// the proxy does not do (it uses the best priority with hosts).
		if err := checkFields("cluster load assignment policy", p, "overprovisioning_factor", "endpoint_stale_after", "weighted_priority_health"); err != nil {
			return nil, err
		}
	}
	byPrio := map[uint32][]epSpec{}
	for _, l := range cla.GetEndpoints() {
		if err := checkFields("locality endpoints", l, "locality", "lb_endpoints", "load_balancing_weight", "priority", "metadata"); err != nil {
			return nil, err
		}
		for _, e := range l.GetLbEndpoints() {
			if err := checkFields("lb endpoint", e, "endpoint", "health_status", "metadata", "load_balancing_weight"); err != nil {
				return nil, err
			}
			ep := e.GetEndpoint()
			if ep == nil {
				return nil, fmt.Errorf("endpoint without address (named endpoints are not supported)")
			}
			if err := checkFields("endpoint", ep, "address", "health_check_config", "hostname"); err != nil {
				return nil, err
			}
			network, addr, err := endpointAddr(ep.GetAddress())
			if err != nil {
				return nil, err
			}
			if requireIP && network == "tcp" {
				if h, _, _ := net.SplitHostPort(addr); net.ParseIP(h) == nil {
					return nil, fmt.Errorf("STATIC endpoint %q is not an IP address", addr)
				}
			}
			switch e.GetHealthStatus() {
			case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY:
			default:
				continue // unhealthy, draining, timeout, degraded: not picked
			}
			w := uint64(1)
			if e.GetLoadBalancingWeight() != nil && e.GetLoadBalancingWeight().GetValue() > 0 {
				w = uint64(e.GetLoadBalancingWeight().GetValue())
			}
			hn := ep.GetHostname()
			if hn == "" && network == "tcp" {
				hn, _, _ = net.SplitHostPort(addr)
			}
			md, err := endpointMatchMetadata(l.GetMetadata(), e.GetMetadata())
			if err != nil {
				return nil, fmt.Errorf("endpoint %s: %v", addr, err)
			}
			byPrio[l.GetPriority()] = append(byPrio[l.GetPriority()], epSpec{network, addr, hn, w, md})
		}
	}
	set := &endpointSet{}
	best := uint32(0)
	first := true
	for p, eps := range byPrio {
		if len(eps) > 0 && (first || p < best) {
			best, first = p, false
			set.eps = eps
		}
	}
	return set, nil
}

// host is one upstream endpoint with its connection pools. Hosts are shared
// between runtime versions so that pools and in-flight counts survive config
// updates that keep the endpoint.
type host struct {
	network, addr string
	hostname      string
	// tls is the client TLS of the transport socket the endpoint uses
	// (nil: plaintext).
	tls          *tls.Config
	active       atomic.Int64
	once1, once2 sync.Once
	tr1, tr2     http.RoundTripper
	cfg          *clusterCfg
	out          outlierState
}

// transport returns the pool for the wanted protocol.
func (h *host) transport(h2 bool) http.RoundTripper {
	if h2 {
		h.once2.Do(func() { h.tr2 = newTransport(h.cfg, h.tls, h.network, h.addr, true) })
		return h.tr2
	}
	h.once1.Do(func() { h.tr1 = newTransport(h.cfg, h.tls, h.network, h.addr, false) })
	return h.tr1
}

func (h *host) closeIdle() {
	for _, t := range []http.RoundTripper{h.tr1, h.tr2} {
		if t, ok := t.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
}

// clusterRT is a cluster with its current hosts and balancer state.
type clusterRT struct {
	cfg     *clusterCfg
	hosts   []*host
	weights []uint64
	uniform bool
	rr      atomic.Uint64
	// Circuit breaker counters. They live with the runtime, so a config
	// swap starts them afresh while old requests finish on the old one.
	inflight atomic.Int64
	retrying atomic.Int64
	mu       sync.Mutex
	current  []int64 // smooth weighted round robin state
	// dns, for a DNS cluster, holds the hosts (resolved addresses); hosts
	// is then empty and picks go to dns's balancer.
	dns *dnsCluster
}

func newClusterRT(cfg *clusterCfg, set *endpointSet, pool *hostPool) *clusterRT {
	c := &clusterRT{cfg: cfg, uniform: true}
	if cfg.dns != nil {
		c.dns = pool.dnsFor(cfg)
		return c
	}
	for _, e := range set.eps {
		c.hosts = append(c.hosts, pool.get(cfg, e.network, e.addr, e.hostname, cfg.socketFor(e.socketMD)))
		c.weights = append(c.weights, e.weight)
		if e.weight != set.eps[0].weight {
			c.uniform = false
		}
	}
	c.current = make([]int64, len(c.hosts))
	return c
}

// pick chooses a host, or nil when the cluster has no healthy host.
func (c *clusterRT) pick() *host {
	if c.dns != nil {
		b := c.dns.balancer()
		return b.usable(b.pickOne())
	}
	return c.usable(c.pickOne())
}

// liveHosts are the hosts picks choose from now.
func (c *clusterRT) liveHosts() []*host {
	if c.dns != nil {
		return c.dns.current()
	}
	return c.hosts
}

// pickOne runs the balancer once, ignoring outlier ejections.
func (c *clusterRT) pickOne() *host {
	n := len(c.hosts)
	switch {
	case n == 0:
		return nil
	case n == 1:
		return c.hosts[0]
	}
	switch c.cfg.lb {
	case lbRandom:
		return c.hosts[c.weightedRandom()]
	case lbLeastRequest:
		// Power of N choices on in-flight requests (Envoy's algorithm for
		// equal weights; with unequal weights the candidates are drawn by
		// weight, approximating Envoy's weight/(active+1) scaling).
		best := c.hosts[c.weightedRandom()]
		for i := 1; i < c.cfg.choices; i++ {
			h := c.hosts[c.weightedRandom()]
			if h.active.Load() < best.active.Load() {
				best = h
			}
		}
		return best
	}
	if c.uniform {
		return c.hosts[int(c.rr.Add(1)-1)%n]
	}
	// Smooth weighted round robin: deterministic and evenly interleaved.
	c.mu.Lock()
	defer c.mu.Unlock()
	var total int64
	bi := 0
	for i, w := range c.weights {
		c.current[i] += int64(w)
		total += int64(w)
		if c.current[i] > c.current[bi] {
			bi = i
		}
	}
	c.current[bi] -= total
	return c.hosts[bi]
}

func (c *clusterRT) weightedRandom() int {
	if c.uniform {
		return rand.IntN(len(c.hosts))
	}
	var total uint64
	for _, w := range c.weights {
		total += w
	}
	x := rand.Uint64N(total)
	for i, w := range c.weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(c.hosts) - 1
}

// hostPool keeps hosts (and their connection pools) across updates, and
// DNS clusters with their resolved hosts.
type hostPool struct {
	mu sync.Mutex
	m  map[string]*host
	// resolver resolves DNS clusters' names (net.DefaultResolver if nil).
	resolver Resolver
	// dns are the DNS clusters by config key; dnsUsed those the runtime
	// being built uses, until retain.
	dns     map[string]*dnsCluster
	dnsUsed map[string]bool
}

// dnsFor returns the DNS cluster of cfg, created (and resolving) the first
// time the config is seen.
func (p *hostPool) dnsFor(cfg *clusterCfg) *dnsCluster {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dns == nil {
		p.dns, p.dnsUsed = map[string]*dnsCluster{}, map[string]bool{}
	}
	p.dnsUsed[cfg.key] = true
	if d, ok := p.dns[cfg.key]; ok {
		return d
	}
	r := p.resolver
	if r == nil {
		r = net.DefaultResolver
	}
	d := newDNSCluster(cfg, r, time.Now)
	p.dns[cfg.key] = d
	d.refresh() // as Envoy does when a cluster is added
	return d
}

func (p *hostPool) get(cfg *clusterCfg, network, addr, hostname string, socket int) *host {
	k := cfg.key + "|" + network + "|" + addr + "|" + hostname + "|" + strconv.Itoa(socket)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*host{}
	}
	if h, ok := p.m[k]; ok {
		return h
	}
	h := &host{network: network, addr: addr, hostname: hostname, cfg: cfg, tls: cfg.tlsFor(socket)}
	p.m[k] = h
	return h
}

// retain drops hosts no runtime uses any more, closing their idle
// connections (in-flight requests keep their connections until done).
func (p *hostPool) retain(used map[*host]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, h := range p.m {
		if !used[h] {
			delete(p.m, k)
			h.closeIdle()
		}
	}
	for k, d := range p.dns {
		if !p.dnsUsed[k] {
			delete(p.dns, k)
			d.close()
		}
	}
	p.dnsUsed = map[string]bool{}
}
