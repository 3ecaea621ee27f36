package cluster

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Cluster is a cluster with its current hosts and balancer state.
type Cluster struct {
	cfg     *Config
	hosts   []*Host
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

// New is the runtime of a cluster config with its endpoints (ignored for
// DNS clusters, which resolve their own), its hosts taken from the pool.
func New(cfg *Config, set *Endpoints, pool *Pool) *Cluster {
	c := &Cluster{cfg: cfg, uniform: true}
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

// Hosts are the cluster's endpoints' hosts (none for a DNS cluster,
// whose hosts the pool keeps with its resolution): a runtime swap keeps
// the pool's hosts that some cluster still lists.
func (c *Cluster) Hosts() []*Host { return c.hosts }

// UsesH2 reports whether requests go upstream over HTTP/2: the cluster's
// protocol, or the downstream's (HTTP/2 when downstreamMajor is 2) under
// use_downstream_protocol_config.
func (c *Cluster) UsesH2(downstreamMajor int) bool {
	return c.cfg.proto == protoH2 || (c.cfg.proto == protoDownstream && downstreamMajor == 2)
}

// Pick chooses a host, or nil when the cluster has no healthy host.
func (c *Cluster) Pick() *Host {
	if c.dns != nil {
		b := c.dns.balancer()
		return b.usable(b.pickOne())
	}
	return c.usable(c.pickOne())
}

// liveHosts are the hosts picks choose from now.
func (c *Cluster) liveHosts() []*Host {
	if c.dns != nil {
		return c.dns.current()
	}
	return c.hosts
}

// pickOne runs the balancer once, ignoring outlier ejections.
func (c *Cluster) pickOne() *Host {
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

func (c *Cluster) weightedRandom() int {
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
