package runner

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the control plane's Prometheus series. They live in a
// registry of their own (not the global one) so several runners, as in
// tests, never collide.
type metrics struct {
	reg         *prometheus.Registry
	translation prometheus.Histogram
	reloads     *prometheus.CounterVec
	pushes      *prometheus.CounterVec
	snapErrors  *prometheus.CounterVec
	nacks       *prometheus.CounterVec
	proxies     *prometheus.GaugeVec
	// extensionRetries counts translations run again for fleets an
	// extension server failed.
	extensionRetries prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		translation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portico_translation_duration_seconds",
			Help:    "Time to translate the input set to xDS for every fleet.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_config_reloads_total",
			Help: "Input reloads by result (applied, rejected).",
		}, []string{"result"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_xds_snapshot_pushes_total",
			Help: "New snapshot versions set per fleet.",
		}, []string{"fleet"}),
		snapErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_xds_snapshot_errors_total",
			Help: "Snapshots refused (inconsistent or failed) per fleet; the last good one kept serving.",
		}, []string{"fleet"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_xds_nacks_total",
			Help: "Responses rejected by proxies, per fleet and xDS type.",
		}, []string{"fleet", "type"}),
		proxies: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portico_xds_connected_proxies",
			Help: "Proxies connected to the xDS server, per fleet.",
		}, []string{"fleet"}),
		extensionRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portico_extension_retries_total",
			Help: "Translations run again, with back-off, for fleets an extension server failed.",
		}),
	}
	m.reg.MustRegister(m.translation, m.reloads, m.pushes, m.snapErrors, m.nacks, m.proxies, m.extensionRetries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
