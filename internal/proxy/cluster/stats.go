package cluster

import "github.com/portico-gw/portico/internal/proxy/stats"

// Stats are a cluster's stats under Envoy's names (cluster.<name>.*),
// resolved when the cluster compiles; the router adds to them.
type Stats struct {
	RqTotal       *stats.Counter    // upstream_rq_total: every attempt sent
	RqClass       [6]*stats.Counter // upstream_rq_1xx..5xx by status/100; [0] unused
	ConnectFail   *stats.Counter    // upstream_cx_connect_fail
	RqTimeout     *stats.Counter    // upstream_rq_timeout: the route's timeout ended the wait
	PerTryTimeout *stats.Counter    // upstream_rq_per_try_timeout
	RqRetry       *stats.Counter    // upstream_rq_retry: attempts after the first
}

// noStats counts nothing: the stats of a cluster compiled without a store.
var noStats Stats

// NewStats resolves the stats of the cluster name in s.
func NewStats(s *stats.Store, name string) *Stats {
	p := "cluster." + name + "."
	cs := &Stats{RqTotal: s.Counter(p + "upstream_rq_total"), ConnectFail: s.Counter(p + "upstream_cx_connect_fail"),
		RqTimeout: s.Counter(p + "upstream_rq_timeout"), PerTryTimeout: s.Counter(p + "upstream_rq_per_try_timeout"),
		RqRetry: s.Counter(p + "upstream_rq_retry")}
	for i := 1; i <= 5; i++ {
		cs.RqClass[i] = s.Counter(p + "upstream_rq_" + string(rune('0'+i)) + "xx")
	}
	return cs
}

// Response counts an upstream response's status class (or the 503/504
// the router answers for a failed attempt, as Envoy charges them).
func (s *Stats) Response(status int) {
	if c := status / 100; c >= 1 && c <= 5 {
		s.RqClass[c].Inc()
	}
}

// SetStats gives the compiled cluster its stats.
func (cc *Config) SetStats(s *Stats) { cc.stats = s }

// Stats are the cluster's stats (counting nothing when it has none).
func (c *Cluster) Stats() *Stats {
	if c.cfg.stats == nil {
		return &noStats
	}
	return c.cfg.stats
}
