// Package admin is the control plane's HTTP admin server: liveness,
// readiness, object status, the xDS being served and Prometheus metrics.
// It only reads what the runtime publishes through Source.
package admin

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-gw/portico/internal/xds/configdump"
)

// Source is what the runtime exposes.
type Source interface {
	// Status is the /status document, already encoded as JSON.
	Status() []byte
	// Ready reports readiness and a short reason.
	Ready() (bool, string)
	// ConfigDump renders the served xDS of one fleet ("" for all).
	ConfigDump(fleet string, t configdump.Type) (any, error)
}

// Options configure the handler.
type Options struct {
	Source   Source
	Gatherer prometheus.Gatherer
	// Pprof serves /debug/pprof/ (EnvoyGateway admin.enablePprof).
	Pprof bool
}

// Handler serves:
//
//	/healthz                  200 while the process runs
//	/readyz                   200 once every fleet's data plane served a snapshot, else 503
//	/status                   every object with kind, metadata and status (a Kubernetes List)
//	/config_dump[?fleet=ns/gw&resource=all|bootstrap|listener|route|cluster|endpoint|secret]
//	/metrics                  Prometheus
//	/debug/pprof/             when Pprof is set
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, msg := o.Source.Ready()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(msg + "\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(o.Source.Status())
	})
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, r *http.Request) {
		t := configdump.All
		if s := r.URL.Query().Get("resource"); s != "" {
			var err error
			if t, err = configdump.ParseType(s); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		v, err := o.Source.ConfigDump(r.URL.Query().Get("fleet"), t)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
