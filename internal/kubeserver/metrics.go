package kubeserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// metricsServer serves Prometheus text at /metrics on the chart's metrics
// port (19001, Envoy Gateway's): the current instance's runner series
// (translations, reloads, xDS pushes, NACKs, connected proxies) and the
// cluster side's (status writes, proxy object writes, leadership). It
// outlives instances: a restart swaps the instance it reads.
type metricsServer struct {
	inst atomic.Pointer[Instance]
	reg  *prometheus.Registry
	addr string
}

func startMetrics(ctx context.Context, addr string, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics server: %w", err)
	}
	m := &metricsServer{reg: prometheus.NewRegistry(), addr: ln.Addr().String()}
	m.register()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{m.reg, prometheus.GathererFunc(m.runnerSeries)},
		promhttp.HandlerOpts{ErrorLog: slogErrorLog{log}}))
	serveHTTP(ctx, ln, mux, log, "metrics server")
	return m, nil
}

func (m *metricsServer) set(i *Instance) {
	i.MetricsAddr = m.addr
	m.inst.Store(i)
}

// runnerSeries are the current runner's series (none while starting).
func (m *metricsServer) runnerSeries() ([]*dto.MetricFamily, error) {
	i := m.inst.Load()
	if i == nil || i.Runner == nil {
		return nil, nil
	}
	return i.Runner.Gatherer().Gather()
}

// register adds the cluster side's series, read from the current instance
// when scraped. They count from the instance's start, as a restarted
// process would.
func (m *metricsServer) register() {
	status := func(pick func(i *Instance) int64) func() float64 {
		return func() float64 {
			i := m.inst.Load()
			if i == nil || i.Status == nil {
				return 0
			}
			return float64(pick(i))
		}
	}
	for result, pick := range map[string]func(*Instance) int64{
		"written":   func(i *Instance) int64 { return i.Status.Counts().Writes },
		"unchanged": func(i *Instance) int64 { return i.Status.Counts().Unchanged },
		"failed":    func(i *Instance) int64 { return i.Status.Counts().Failed },
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "portico_status_updates_total",
			Help:        "Statuses the writer handled: written to the API server, unchanged (no write), or failed.",
			ConstLabels: prometheus.Labels{"result": result}}, status(pick)))
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "portico_infra_writes_total",
		Help: "Proxy infrastructure objects applied or deleted (repairs included)."}, func() float64 {
		i := m.inst.Load()
		if i == nil || i.Infra == nil {
			return 0
		}
		return float64(i.Infra.Counts().Writes)
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "portico_leader",
		Help: "1 when this replica leads (writes status and proxy objects), else 0."}, func() float64 {
		i := m.inst.Load()
		if i == nil || i.Provider == nil {
			return 0
		}
		select {
		case <-i.Provider.Elected():
			return 1
		default:
			return 0
		}
	}))
}

// slogErrorLog is promhttp's error log on slog.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("metrics", "err", fmt.Sprint(v...)) }
