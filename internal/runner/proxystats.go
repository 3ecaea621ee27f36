package runner

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-gw/portico/internal/proxy/stats"
)

// proxyStatsDesc is every counter an in-process proxy keeps (grpc_stats'
// per-method calls, ...), under its Envoy name.
var proxyStatsDesc = prometheus.NewDesc("portico_proxy_counter",
	"Counters of the in-process built-in proxies (--data-plane in-process), by fleet and Envoy stat name.",
	[]string{"fleet", "name"}, nil)

// proxyStats exports the in-process proxies' counters on /metrics. They
// are read at scrape time: the proxies own them, the runner only shows
// them.
type proxyStats struct {
	read func() map[string][]stats.Sample
}

func (p proxyStats) Describe(ch chan<- *prometheus.Desc) { ch <- proxyStatsDesc }

func (p proxyStats) Collect(ch chan<- prometheus.Metric) {
	for fleet, counters := range p.read() {
		for _, c := range counters {
			if c.Kind == stats.KindCounter {
				ch <- prometheus.MustNewConstMetric(proxyStatsDesc, prometheus.CounterValue, float64(c.Value), fleet, c.Name)
			}
		}
	}
}
