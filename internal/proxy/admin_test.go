package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/portico-gw/portico/internal/proxy"
)

func adminGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminInterface reads the admin endpoints Envoy's probes and
// scrapers use, before and after the first config.
func TestAdminInterface(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "admin")
	h := newHarnessOpts(t, func(o *proxy.Options) { o.AdminAddress, o.AdminAddressPath = "127.0.0.1:0", addrFile })
	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(addrFile)
		addr = string(b)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("admin address file: %q", addr)
	}
	if code, body := adminGet(t, addr, "/ready"); code != http.StatusServiceUnavailable || body != "PRE_INITIALIZING\n" {
		t.Errorf("/ready before any config: %d %q", code, body)
	}

	port := freePort(t)
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: prefix("/"), Action: routeTo("web")}}}}}
	h.pushAndWait(t, basic(port, rc, map[string][]string{"web": {backend(t, "web")}}))
	if code, body := adminGet(t, addr, "/ready"); code != http.StatusOK || body != "LIVE\n" {
		t.Errorf("/ready: %d %q", code, body)
	}
	if r := get(t, port, "a", "/"); r.code != 200 {
		t.Fatalf("request: %d", r.code)
	}
	want := "cluster.web.upstream_rq_2xx: 1\ncluster.web.upstream_rq_total: 1\n"
	var body string
	for deadline := time.Now().Add(5 * time.Second); body != want && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_, body = adminGet(t, addr, "/stats?filter=^cluster\\.web\\.upstream_rq_(2xx|total)$")
	}
	if body != want {
		t.Errorf("/stats?filter=: %q, want %q", body, want)
	}
	if code, body := adminGet(t, addr, "/stats?filter=("); code != http.StatusBadRequest {
		t.Errorf("/stats with a bad regex: %d %q", code, body)
	}

	_, prom := adminGet(t, addr, "/stats/prometheus")
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(prom))
	if err != nil {
		t.Fatalf("/stats/prometheus is not Prometheus text: %v\n%s", err, prom)
	}
	live := families["envoy_server_live"]
	if live == nil || live.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("envoy_server_live: %v", live)
	}
	rq := families["envoy_http_downstream_rq_total"]
	if rq == nil || len(rq.GetMetric()) != 1 || rq.GetMetric()[0].GetLabel()[0].GetValue() != fmt.Sprintf("http-%d", port) ||
		rq.GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("envoy_http_downstream_rq_total: %v", rq)
	}
	if code, body := adminGet(t, addr, "/server_info"); code != 200 || !strings.Contains(body, `"state":"LIVE"`) {
		t.Errorf("/server_info: %d %s", code, body)
	}
}
