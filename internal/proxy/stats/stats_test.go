package stats

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sampleStore keeps the stats the proxy keeps, with values that tell
// them apart.
func sampleStore() *Store {
	s := New()
	s.Counter("http.http-10080.downstream_rq_total").Add(7)
	s.Counter("http.http-10080.downstream_rq_2xx").Add(5)
	s.Counter("http.http-10080.downstream_rq_4xx").Add(2)
	s.Counter("http.http-10080.downstream_cx_total").Add(3)
	s.Gauge("http.http-10080.downstream_cx_active").Set(1)
	s.Counter("listener.0.0.0.0_10080.downstream_cx_total").Add(3)
	s.Counter("listener.[__1]_10443.downstream_cx_total").Add(1)
	s.Counter("cluster.httproute/default/backend/rule/0.upstream_rq_total").Add(6)
	s.Counter("cluster.httproute/default/backend/rule/0.upstream_rq_2xx").Add(5)
	s.Counter("cluster.httproute/default/backend/rule/0.upstream_rq_5xx").Add(1)
	s.Counter("cluster.httproute/default/backend/rule/0.upstream_cx_connect_fail").Add(1)
	s.Gauge("server.live").Set(1)
	s.GaugeFunc("server.uptime", func() int64 { return 42 })
	return s
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to rewrite):\n%s\nwant:\n%s", name, got, want)
	}
}

func TestTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sampleStore().Snapshot(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "stats.txt", b.Bytes())
	b.Reset()
	_ = WriteText(&b, sampleStore().Snapshot(), regexp.MustCompile(`^cluster\..*_rq_`))
	golden(t, "stats-filtered.txt", b.Bytes())
}

func TestPrometheusGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WritePrometheus(&b, sampleStore().Snapshot()); err != nil {
		t.Fatal(err)
	}
	golden(t, "stats-prometheus.txt", b.Bytes())

	families, err := parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("not Prometheus text: %v", err)
	}
	for _, c := range []struct {
		metric string
		labels map[string]string
		kind   dto.MetricType
		value  float64
	}{
		{"envoy_http_downstream_rq_total", map[string]string{"envoy_http_conn_manager_prefix": "http-10080"}, dto.MetricType_COUNTER, 7},
		{"envoy_http_downstream_rq_xx", map[string]string{"envoy_http_conn_manager_prefix": "http-10080", "envoy_response_code_class": "4"}, dto.MetricType_COUNTER, 2},
		{"envoy_http_downstream_cx_active", map[string]string{"envoy_http_conn_manager_prefix": "http-10080"}, dto.MetricType_GAUGE, 1},
		{"envoy_listener_downstream_cx_total", map[string]string{"envoy_listener_address": "0.0.0.0_10080"}, dto.MetricType_COUNTER, 3},
		{"envoy_listener_downstream_cx_total", map[string]string{"envoy_listener_address": "[__1]_10443"}, dto.MetricType_COUNTER, 1},
		{"envoy_cluster_upstream_rq_xx", map[string]string{"envoy_cluster_name": "httproute/default/backend/rule/0", "envoy_response_code_class": "5"}, dto.MetricType_COUNTER, 1},
		{"envoy_cluster_upstream_cx_connect_fail", map[string]string{"envoy_cluster_name": "httproute/default/backend/rule/0"}, dto.MetricType_COUNTER, 1},
		{"envoy_server_live", nil, dto.MetricType_GAUGE, 1},
		{"envoy_server_uptime", nil, dto.MetricType_GAUGE, 42},
	} {
		f := families[c.metric]
		if f == nil || f.GetType() != c.kind {
			t.Errorf("%s: missing or not %v: %v", c.metric, c.kind, f)
			continue
		}
		if v, ok := find(f, c.labels); !ok || v != c.value {
			t.Errorf("%s%v = %v (found %v), want %v", c.metric, c.labels, v, ok, c.value)
		}
	}
}

func find(f *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		ok := true
		for _, l := range m.GetLabel() {
			ok = ok && labels[l.GetName()] == l.GetValue()
		}
		if ok {
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestNilStoreCountsNothing(t *testing.T) {
	var s *Store
	s.Counter("a").Inc()
	s.Gauge("b").Add(1)
	s.Inc("c")
	if s.Snapshot() != nil || s.Get("c") != 0 {
		t.Fatal("a nil store kept something")
	}
}

func TestSameNameSameCounter(t *testing.T) {
	s := New()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				s.Counter("x").Inc()
				s.Gauge("g").Add(1)
				s.Gauge("g").Add(-1)
			}
		}()
	}
	wg.Wait()
	if s.Get("x") != 4000 || s.Gauge("g").Value() != 0 || s.Counter("x") != s.Counter("x") {
		t.Fatalf("x=%d g=%d", s.Get("x"), s.Gauge("g").Value())
	}
}

func FuzzExtractTags(f *testing.F) {
	for _, s := range sampleStore().Snapshot() {
		f.Add(s.Name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		var b bytes.Buffer
		if err := WritePrometheus(&b, []Sample{{Name: name, Value: 1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := parse(&b); err != nil {
			t.Fatalf("%q: %v\n%s", name, err, b.String())
		}
	})
}

func parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}
