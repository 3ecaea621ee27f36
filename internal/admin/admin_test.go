package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-gw/portico/internal/xds/configdump"
)

type fake struct {
	ready bool
	asked configdump.Type
	fleet string
}

func (f *fake) Status() []byte { return []byte(`{"kind":"List"}`) }
func (f *fake) Ready() (bool, string) {
	return f.ready, map[bool]string{true: "ok", false: "waiting"}[f.ready]
}
func (f *fake) ConfigDump(fleet string, t configdump.Type) (any, error) {
	f.fleet, f.asked = fleet, t
	return map[string]any{"fleet": fleet}, nil
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(w.Body)
	return w.Code, string(b)
}

func TestEndpoints(t *testing.T) {
	src := &fake{}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "portico_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()
	h := Handler(Options{Source: src, Gatherer: reg})

	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "waiting") {
		t.Fatalf("/readyz not ready = %d %q", code, body)
	}
	src.ready = true
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("/readyz ready = %d", code)
	}
	if code, body := get(t, h, "/status"); code != 200 || body != `{"kind":"List"}` {
		t.Fatalf("/status = %d %q", code, body)
	}
	if code, _ := get(t, h, "/config_dump?fleet=default/eg&resource=route"); code != 200 || src.fleet != "default/eg" || src.asked != configdump.Route {
		t.Fatalf("/config_dump = %d, asked %q %q", code, src.fleet, src.asked)
	}
	if code, _ := get(t, h, "/config_dump"); code != 200 || src.asked != configdump.All {
		t.Fatalf("/config_dump default = %d %q", code, src.asked)
	}
	if code, _ := get(t, h, "/config_dump?resource=nope"); code != 400 {
		t.Fatalf("/config_dump bad resource = %d", code)
	}
	if code, body := get(t, h, "/metrics"); code != 200 || !strings.Contains(body, "portico_test_total 1") {
		t.Fatalf("/metrics = %d %q", code, body)
	}
	if code, _ := get(t, h, "/debug/pprof/"); code != 404 {
		t.Fatalf("pprof served without being enabled: %d", code)
	}
	if code, _ := get(t, Handler(Options{Source: src, Gatherer: reg, Pprof: true}), "/debug/pprof/"); code != 200 {
		t.Fatalf("pprof enabled = %d", code)
	}
}
