package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/proxy/stats/promtest"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
)

// egStatic is Envoy Gateway's bootstrap's static resources with test
// ports: the stats listener and the clusters the proxy serves.
func egStatic(admin, stats uint32) proxy.StaticResources {
	o := bootstrap.EnvoyGatewayDefaults()
	o.AdminAddress, o.AdminPort, o.StatsAddress, o.StatsPort = "127.0.0.1", admin, "127.0.0.1", stats
	b := bootstrap.Build(o)
	var st proxy.StaticResources
	st.Listeners = b.GetStaticResources().GetListeners()
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetType() == clusterv3.Cluster_STATIC {
			st.Clusters = append(st.Clusters, c)
		}
	}
	return st
}

// TestBootstrapStatsListener scrapes /stats/prometheus through Envoy
// Gateway's static stats listener, which routes it to the admin address,
// before and after the first xDS config.
func TestBootstrapStatsListener(t *testing.T) {
	admin, statsPort := freePort(t), freePort(t)
	h := newHarnessOpts(t, func(o *proxy.Options) {
		o.AdminAddress = fmt.Sprintf("127.0.0.1:%d", admin)
		o.Static = egStatic(admin, statsPort)
	})
	scrape := func() (int, string) {
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats/prometheus", statsPort)); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := scrape(); code != 200 || !strings.Contains(body, "# TYPE envoy_server_live gauge\nenvoy_server_live 0\n") {
		t.Fatalf("before any config: %d\n%s", code, body)
	}
	port := freePort(t)
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: prefix("/"), Action: routeTo("web")}}}}}
	h.pushAndWait(t, basic(port, rc, map[string][]string{"web": {backend(t, "web")}}))
	code, body := scrape()
	families, err := promtest.Parse(strings.NewReader(body))
	if code != 200 || err != nil {
		t.Fatalf("%d %v\n%s", code, err, body)
	}
	// The scrapes themselves went through the proxy: the stats listener's
	// HCM and the prometheus_stats cluster count them, as in Envoy.
	if v, ok := promtest.Value(families["envoy_cluster_upstream_rq_total"], map[string]string{"envoy_cluster_name": "prometheus_stats"}); !ok || v < 1 {
		t.Errorf("prometheus_stats upstream_rq_total: %v %v\n%s", v, ok, body)
	}
	if live := families["envoy_server_live"]; live == nil || live.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("envoy_server_live after the config: %v", live)
	}
	// Only GET /stats/prometheus is routed: the admin's other pages are not
	// reachable through the stats listener.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/server_info", statsPort))
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/server_info through the stats listener: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
}

func TestStaticResourcesRefused(t *testing.T) {
	st := egStatic(freePort(t), freePort(t))
	eds := edsCluster("eds", nil)
	for _, c := range []struct {
		static proxy.StaticResources
		want   string
	}{
		{proxy.StaticResources{Clusters: []*clusterv3.Cluster{eds}}, "static cluster eds: only STATIC clusters are served from the bootstrap"},
		{proxy.StaticResources{Listeners: append(st.Listeners, listener("rds", freePort(t), "rc", nil))},
			"static listener rds: routes (RDS) and secrets (SDS) from xDS are not supported in static resources"},
	} {
		_, err := proxy.New(proxy.Options{XDSAddress: "127.0.0.1:1", NodeID: "n", Static: c.static})
		if err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}
