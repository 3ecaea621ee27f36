// Package admin is the built-in proxy's admin interface: the part of
// Envoy's admin API that probes and scrapers use (/ready, /stats,
// /stats/prometheus, /server_info), answering as Envoy does, on the
// address the bootstrap's admin block (or `portico proxy
// --admin-address`) names.
package admin

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/proxy/stats"
)

// Source is what the admin interface reads: the proxy.
type Source interface {
	// State is Envoy's server state: "LIVE" once a config is applied,
	// "PRE_INITIALIZING" before, "DRAINING" while draining.
	State() string
	// Stats are the proxy's stats, sorted by name.
	Stats() []stats.Sample
	// Uptime is how long the proxy has run.
	Uptime() time.Duration
}

// Version is what /server_info reports as the proxy's version.
const Version = "portico-builtin-proxy"

// Handler serves the admin endpoints of src.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		state := src.State()
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		if state != "LIVE" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(state + "\n"))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) { serveStats(w, r, src) })
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, _ *http.Request) { servePrometheus(w, src) })
	mux.HandleFunc("GET /server_info", func(w http.ResponseWriter, _ *http.Request) {
		up := strconv.FormatInt(int64(src.Uptime()/time.Second), 10) + "s"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"version": Version, "state": src.State(),
			"uptime_current_epoch": up, "uptime_all_epochs": up})
	})
	return mux
}

// serveStats is /stats: Envoy's text format, or ?format=prometheus or
// json; ?filter= keeps the names a regular expression matches.
func serveStats(w http.ResponseWriter, r *http.Request, src Source) {
	var filter *regexp.Regexp
	if f := r.URL.Query().Get("filter"); f != "" {
		var err error
		if filter, err = regexp.Compile(f); err != nil {
			http.Error(w, "Invalid re2 regex", http.StatusBadRequest)
			return
		}
	}
	samples := src.Stats()
	switch r.URL.Query().Get("format") {
	case "":
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_ = stats.WriteText(w, samples, filter)
	case "prometheus":
		servePrometheus(w, src)
	case "json":
		type stat struct {
			Name  string `json:"name"`
			Value int64  `json:"value"`
		}
		out := struct {
			Stats []stat `json:"stats"`
		}{Stats: []stat{}}
		for _, s := range samples {
			if filter == nil || filter.MatchString(s.Name) {
				out.Stats = append(out.Stats, stat{s.Name, s.Value})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.Error(w, "usage: /stats?format=(json|prometheus)&filter=REGEX", http.StatusNotFound)
	}
}

func servePrometheus(w http.ResponseWriter, src Source) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=UTF-8")
	_ = stats.WritePrometheus(w, src.Stats())
}
