package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/portico-gw/portico/internal/proxy/stats/promtest"
)

// deadRouteYAML routes Host dead.example.com to the Service dead, where
// nothing listens.
const deadRouteYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: dead, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: ["dead.example.com"]
  rules:
    - backendRefs: [{name: dead, port: %d}]
`

// TestProxyStatsThroughPorticoRun reads a `portico run` child proxy's
// stats from its admin interface, found in /status, after requests that
// succeed, find no route and reach a dead backend.
func TestProxyStatsThroughPorticoRun(t *testing.T) {
	bp, dead, gw := backend(t, "web"), freePort(t), freePort(t)
	e := start(t, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp, "dead": dead}),
		"route.yaml": routeYAML("backend", bp), "dead.yaml": fmt.Sprintf(deadRouteYAML, dead)}, gw)

	send := func(host, path string, want int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", gw, path), nil)
		req.Host = host
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s%s: %d, want %d", host, path, resp.StatusCode, want)
		}
	}
	for _, p := range []string{"/a", "/b", "/c"} {
		send("www.example.com", p, http.StatusOK)
	}
	send("nothing.example.com", "/", http.StatusNotFound)
	send("nothing.example.com", "/x", http.StatusNotFound)
	send("dead.example.com", "/", http.StatusServiceUnavailable)

	var admin string
	e.eventually("the proxy's admin address in /status", func() bool {
		var l struct {
			Portico struct {
				Processes []struct {
					AdminAddress string `json:"adminAddress"`
				} `json:"processes"`
			} `json:"portico"`
		}
		_, b := e.admin("/status")
		if json.Unmarshal(b, &l) != nil || len(l.Portico.Processes) != 1 {
			return false
		}
		admin = l.Portico.Processes[0].AdminAddress
		return admin != ""
	})

	prefix := map[string]string{"envoy_http_conn_manager_prefix": fmt.Sprintf("http-%d", gw)}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range m {
			out[a] = b
		}
		return out
	}
	web := map[string]string{"envoy_cluster_name": "httproute/default/backend/rule/0"}
	deadCluster := map[string]string{"envoy_cluster_name": "httproute/default/dead/rule/0"}
	want := []struct {
		metric string
		labels map[string]string
		value  float64
	}{
		{"envoy_http_downstream_rq_total", prefix, 6},
		{"envoy_http_downstream_rq_xx", with(prefix, "envoy_response_code_class", "2"), 3},
		{"envoy_http_downstream_rq_xx", with(prefix, "envoy_response_code_class", "4"), 2},
		{"envoy_http_downstream_rq_xx", with(prefix, "envoy_response_code_class", "5"), 1},
		{"envoy_cluster_upstream_rq_total", web, 3},
		{"envoy_cluster_upstream_rq_xx", with(web, "envoy_response_code_class", "2"), 3},
		{"envoy_cluster_upstream_rq_total", deadCluster, 1},
		{"envoy_cluster_upstream_cx_connect_fail", deadCluster, 1},
		{"envoy_cluster_upstream_rq_xx", with(deadCluster, "envoy_response_code_class", "5"), 1},
		{"envoy_server_live", map[string]string{}, 1},
	}
	var families map[string]*dto.MetricFamily
	e.eventually("the proxy's counters", func() bool {
		resp, err := http.Get("http://" + admin + "/stats/prometheus")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if families, err = promtest.Parse(resp.Body); err != nil {
			t.Fatalf("/stats/prometheus: %v", err)
		}
		for _, w := range want {
			if v, ok := promtest.Value(families[w.metric], w.labels); !ok || v != w.value {
				return false
			}
		}
		return true
	})
	resp, err := http.Get("http://" + admin + "/ready")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/ready: %v %v", resp, err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(admin, "127.0.0.1:") {
		t.Errorf("the admin interface listens on %s, not loopback", admin)
	}
}
