package proxy

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Resolver looks up the addresses of a host name; *net.Resolver is one.
// network is "ip4", "ip6" or "ip".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dnsCluster is the runtime of a DNS cluster: its hosts are the addresses
// its names resolve to, refreshed as Envoy does. It outlives runtime swaps
// (hostPool keeps it while the cluster's config is the same), so an
// update of other resources neither re-resolves nor drops connections.
//
// Envoy resolves on a timer; here a refresh is started by the first pick
// after the refresh time (and at creation), so an idle cluster costs no
// queries. Traffic sees the same thing: the addresses of the latest
// successful resolution, refreshed every refresh rate (plus jitter), kept
// when a resolution fails, which is retried with exponential back-off.
type dnsCluster struct {
	spec     *dnsSpec
	cfg      *clusterCfg
	resolver Resolver
	now      func() time.Time

	cur atomic.Pointer[dnsResult]

	mu        sync.Mutex
	resolving chan struct{} // closed when the running resolution ends
	failures  int
	addrs     [][]netip.Addr   // per target, the last good answer
	hosts     map[string]*host // by address, kept across refreshes
	closed    bool
}

// dnsResult is one resolution's outcome: a balancer over the hosts, and
// when to resolve again.
type dnsResult struct {
	rt   *clusterRT
	next time.Time
}

func newDNSCluster(cfg *clusterCfg, r Resolver, now func() time.Time) *dnsCluster {
	return &dnsCluster{spec: cfg.dns, cfg: cfg, resolver: r, now: now, hosts: map[string]*host{},
		addrs: make([][]netip.Addr, len(cfg.dns.targets))}
}

// balancer returns the hosts to pick from, starting a refresh when they
// are due. Before the first answer it waits for it (at most the query
// timeout): Envoy does not serve a DNS cluster before it has resolved.
func (d *dnsCluster) balancer() *clusterRT {
	r := d.cur.Load()
	if r != nil && d.now().Before(r.next) {
		return r.rt
	}
	done := d.refresh()
	if r != nil {
		return r.rt // the last answer serves while the refresh runs
	}
	t := time.NewTimer(dnsQueryTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	if r = d.cur.Load(); r != nil {
		return r.rt
	}
	return &clusterRT{cfg: d.cfg}
}

// current is the hosts without starting or waiting for anything.
func (d *dnsCluster) current() []*host {
	if r := d.cur.Load(); r != nil {
		return r.rt.hosts
	}
	return nil
}

// refresh starts a resolution unless one is running; the channel closes
// when it ends.
func (d *dnsCluster) refresh() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resolving != nil {
		return d.resolving
	}
	ch := make(chan struct{})
	d.resolving = ch
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), dnsQueryTimeout)
		answers, errs := d.lookupAll(ctx)
		cancel()
		d.mu.Lock()
		d.apply(answers, errs)
		d.resolving = nil
		d.mu.Unlock()
		close(ch)
	}()
	return ch
}

// lookupAll resolves every target (they are few; one after the other).
func (d *dnsCluster) lookupAll(ctx context.Context) ([][]netip.Addr, []error) {
	answers := make([][]netip.Addr, len(d.spec.targets))
	errs := make([]error, len(d.spec.targets))
	for i, t := range d.spec.targets {
		answers[i], errs[i] = lookupFamily(ctx, d.resolver, t.host, d.spec.family)
	}
	return answers, errs
}

// lookupFamily applies the lookup family. A name with no address of the
// family asked is an answer (no hosts), as with Envoy's c-ares resolver;
// only a failure to get an answer is an error.
func lookupFamily(ctx context.Context, r Resolver, host string, fam dnsFamily) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	lookup := func(network string) ([]netip.Addr, error) {
		addrs, err := r.LookupNetIP(ctx, network, host)
		// Go reports a name without an address of the family as an
		// AddrError, a name that does not exist as NotFound.
		var de *net.DNSError
		var ae *net.AddrError
		if (errors.As(err, &de) && de.IsNotFound) || errors.As(err, &ae) {
			return nil, nil
		}
		for i := range addrs {
			addrs[i] = addrs[i].Unmap()
		}
		return addrs, err
	}
	first, second := "ip6", "ip4"
	switch fam {
	case familyV4Only:
		return lookup("ip4")
	case familyV6Only:
		return lookup("ip6")
	case familyAll:
		return lookup("ip")
	case familyV4Preferred:
		first, second = "ip4", "ip6"
	}
	addrs, err := lookup(first)
	if err != nil || len(addrs) > 0 {
		return addrs, err
	}
	return lookup(second)
}

// apply records a resolution (d.mu held). A target whose lookup failed
// keeps its last good addresses; any failure brings the next attempt
// closer, with back-off.
func (d *dnsCluster) apply(answers [][]netip.Addr, errs []error) {
	failed := false
	for i, err := range errs {
		if err != nil {
			failed = true
			continue
		}
		d.addrs[i] = answers[i]
	}
	wait := d.spec.refresh
	if failed {
		wait = d.spec.failBase << min(d.failures, 30)
		if wait > d.spec.failMax || wait <= 0 {
			wait = d.spec.failMax
		}
		d.failures++
	} else {
		d.failures = 0
		if d.spec.jitter > 0 {
			wait += rand.N(d.spec.jitter)
		}
	}
	if d.closed {
		return
	}
	d.cur.Store(&dnsResult{rt: d.balancerOf(), next: d.now().Add(wait)})
}

// balancerOf builds the balancer over the current addresses, reusing the
// hosts (and connections) of addresses seen before and closing the idle
// connections of addresses gone.
func (d *dnsCluster) balancerOf() *clusterRT {
	set := &endpointSet{}
	for i, t := range d.spec.targets {
		addrs := d.addrs[i]
		if d.spec.logical && len(addrs) > 1 {
			addrs = addrs[:1]
		}
		for _, a := range addrs {
			set.eps = append(set.eps, epSpec{network: "tcp", addr: net.JoinHostPort(a.String(), t.port),
				hostname: t.hostname, weight: t.weight, socketMD: t.socketMD})
		}
	}
	keep := map[string]*host{}
	rt := &clusterRT{cfg: d.cfg, uniform: true}
	for _, e := range set.eps {
		h := d.hosts[e.addr]
		if h == nil {
			h = &host{network: e.network, addr: e.addr, hostname: e.hostname, cfg: d.cfg, tls: d.cfg.tlsFor(d.cfg.socketFor(e.socketMD))}
		}
		keep[e.addr] = h
		rt.hosts = append(rt.hosts, h)
		rt.weights = append(rt.weights, e.weight)
		if e.weight != set.eps[0].weight {
			rt.uniform = false
		}
	}
	for a, h := range d.hosts {
		if keep[a] == nil {
			h.closeIdle()
		}
	}
	d.hosts = keep
	rt.current = make([]int64, len(rt.hosts))
	return rt
}

// close stops the cluster from serving new hosts and closes idle
// connections (in-flight requests finish on theirs).
func (d *dnsCluster) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, h := range d.hosts {
		h.closeIdle()
	}
}
