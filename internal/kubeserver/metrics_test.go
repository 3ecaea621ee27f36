package kubeserver_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/kubeserver"
	"github.com/portico-gw/portico/internal/kubetest"
)

// scrape parses the Prometheus text at url.
func scrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// sum is the total of a family's counter, gauge or histogram count with
// the given label (any value when value is "").
func sum(f *dto.MetricFamily, label, value string) float64 {
	var total float64
	for _, m := range f.GetMetric() {
		match := label == ""
		for _, l := range m.GetLabel() {
			if l.GetName() == label && (value == "" || l.GetValue() == value) {
				match = true
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// `portico server` serves Prometheus text on its metrics address (the
// chart's 19001): the runner's translations, the status writes and the
// proxy object writes, as they happen.
func TestMetricsEndpoint(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "envoy-gateway-system")
	e.Namespace(t, "metrics")
	inst := serve(t, kubeserver.Options{Infrastructure: true, MetricsAddress: "127.0.0.1:0"})
	if inst.MetricsAddr == "" {
		t.Fatal("no metrics address")
	}
	url := "http://" + inst.MetricsAddr + "/metrics"
	e.Apply(t, []byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: metrics}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: metrics, namespace: metrics}
spec:
  gatewayClassName: metrics
  listeners: [{name: http, protocol: HTTP, port: 8080}]
`), "metrics")
	kubetest.Eventually(t, 20*time.Second, func() error {
		var gw gwapiv1.Gateway
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: "metrics", Name: "metrics"}, &gw); err != nil {
			return err
		}
		return wantCondition(gw.Status.Conditions, "Accepted", "True", "Accepted")
	})
	kubetest.Eventually(t, 10*time.Second, func() error {
		fams, err := scrape(url)
		if err != nil {
			return err
		}
		for _, want := range []struct {
			name, label, value string
			min                float64
		}{
			{"portico_translation_duration_seconds", "", "", 1},
			{"portico_status_updates_total", "result", "written", 2}, // the GatewayClass and the Gateway
			{"portico_infra_writes_total", "", "", 4},                // SA, ConfigMap, Deployment, Service
			{"portico_leader", "", "", 1},
		} {
			f := fams[want.name]
			if f == nil {
				return fmt.Errorf("no %s", want.name)
			}
			if got := sum(f, want.label, want.value); got < want.min {
				return fmt.Errorf("%s{%s=%q} = %v, want at least %v", want.name, want.label, want.value, got, want.min)
			}
		}
		if got, want := sum(fams["portico_status_updates_total"], "result", "written"), float64(inst.Status.Counts().Writes); got > want {
			return fmt.Errorf("status writes %v, writer says %v", got, want)
		}
		return nil
	})
}
