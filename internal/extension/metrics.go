package extension

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// metrics are per manager and hook: calls, errors (after retries, whether or
// not failOpen hid them) and latency (all attempts of a call).
type metrics struct {
	calls   *prometheus.CounterVec
	errors  *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_extension_hook_calls_total",
			Help: "Extension server hook calls, by manager and hook.",
		}, []string{"manager", "hook"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_extension_hook_errors_total",
			Help: "Extension server hook calls that failed after retries (including those failOpen ignored).",
		}, []string{"manager", "hook"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_extension_hook_duration_seconds",
			Help:    "Extension server hook call latency, all attempts included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"manager", "hook"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.calls, m.errors, m.latency} {
			if err := reg.Register(c); err != nil {
				// A second manager on the same registry (a config reload)
				// reuses the first one's collectors.
				if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
					switch c.(type) {
					case *prometheus.CounterVec:
						if c == m.calls {
							m.calls = are.ExistingCollector.(*prometheus.CounterVec)
						} else {
							m.errors = are.ExistingCollector.(*prometheus.CounterVec)
						}
					case *prometheus.HistogramVec:
						m.latency = are.ExistingCollector.(*prometheus.HistogramVec)
					}
				}
			}
		}
	}
	return m
}

func (m *metrics) observe(manager string, h xdstypes.Hook, d time.Duration, err error) {
	m.calls.WithLabelValues(manager, string(h)).Inc()
	if err != nil {
		m.errors.WithLabelValues(manager, string(h)).Inc()
	}
	m.latency.WithLabelValues(manager, string(h)).Observe(d.Seconds())
}

// Counts returns the calls and errors of one manager's hook so far (for
// status reports and tests).
func (m *Manager) Counts(manager string, h xdstypes.Hook) (calls, errs float64) {
	return counterValue(m.metrics.calls, manager, h), counterValue(m.metrics.errors, manager, h)
}

func counterValue(v *prometheus.CounterVec, manager string, h xdstypes.Hook) float64 {
	c, err := v.GetMetricWithLabelValues(manager, string(h))
	if err != nil {
		return 0
	}
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		return 0
	}
	return out.GetCounter().GetValue()
}
