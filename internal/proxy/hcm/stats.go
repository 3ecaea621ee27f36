package hcm

import "github.com/portico-gw/portico/internal/proxy/stats"

// downstreamStats are an HCM's stats under Envoy's names
// (http.<stat_prefix>.*), resolved when the HCM compiles so that a
// request only adds to atomics.
type downstreamStats struct {
	rqTotal  *stats.Counter
	rqClass  [6]*stats.Counter // downstream_rq_1xx..5xx by status/100; [0] unused
	cxTotal  *stats.Counter
	cxActive *stats.Gauge
	// connections closed for too many prematurely reset streams
	tooManyPrematureResets *stats.Counter
}

func newDownstreamStats(s *stats.Store, statPrefix string) downstreamStats {
	p := "http." + statPrefix + "."
	d := downstreamStats{rqTotal: s.Counter(p + "downstream_rq_total"), cxTotal: s.Counter(p + "downstream_cx_total"),
		cxActive: s.Gauge(p + "downstream_cx_active"), tooManyPrematureResets: s.Counter(p + "downstream_rq_too_many_premature_resets")}
	for i := 1; i <= 5; i++ {
		d.rqClass[i] = s.Counter(p + "downstream_rq_" + string(rune('0'+i)) + "xx")
	}
	return d
}

// request counts a finished request with its response status (0: none
// was sent, the stream was reset, which Envoy gives no class either).
func (d *downstreamStats) request(status int) {
	d.rqTotal.Inc()
	if c := status / 100; c >= 1 && c <= 5 {
		d.rqClass[c].Inc()
	}
}

// ConnOpened counts a downstream connection this HCM serves and returns
// the gauge the connection's close must decrement.
func (h *Config) ConnOpened() *stats.Gauge {
	h.stats.cxTotal.Inc()
	h.stats.cxActive.Add(1)
	return h.stats.cxActive
}
