package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// addHostname gives the quickstart's HTTPRoute one more hostname beside
// www.example.com (replacing any other).
func addHostname(t *testing.T, host string) {
	t.Helper()
	ctx := context.Background()
	// The status writer updates the route too: a conflict is retried.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var r gwapiv1.HTTPRoute
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "backend"}, &r); err != nil {
			return err
		}
		r.Spec.Hostnames = []gwapiv1.Hostname{"www.example.com", gwapiv1.Hostname(host)}
		return env.Client.Update(ctx, &r)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The API server goes away and comes back: the proxy keeps serving what it
// has meanwhile, and a route changed afterwards reaches it.
func TestAPIServerRestartKeepsServing(t *testing.T) {
	e := need(t)
	cp, proxy := quickstartWithProxy(t, e)
	as := e.ControlPlane.GetAPIServer()
	if err := as.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if code, _, err := get("http://127.0.0.1:10080/get", "www.example.com"); err != nil || code != 200 {
			t.Fatalf("with the API server down: %d %v\ncontrol plane:\n%s\nproxy:\n%s", code, err, cp.output(), proxy.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := as.Start(); err != nil {
		t.Fatal(err)
	}
	addHostname(t, "after-restart.example.com")
	waitTraffic(t, "http://127.0.0.1:10080/get", "after-restart.example.com", func(code int, _ string) bool { return code == 200 }, proxy)
}

// TestRoutePropagationFigure measures the time from an HTTPRoute update
// through the API server to the proxy serving it (PORTICO_K8S_PROPAGATION
// changes, e.g. 50). A figure, not a test: it runs only when asked.
//
//	PORTICO_K8S_PROPAGATION=50 go test ./test/e2e/kubernetes -run RoutePropagationFigure -v
func TestRoutePropagationFigure(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PORTICO_K8S_PROPAGATION"))
	if n <= 0 {
		t.Skip("set PORTICO_K8S_PROPAGATION=N to measure")
	}
	e := need(t)
	_, proxy := quickstartWithProxy(t, e)
	var took []time.Duration
	for i := range n {
		host := fmt.Sprintf("prop-%d.example.com", i)
		start := time.Now()
		addHostname(t, host)
		waitTraffic(t, "http://127.0.0.1:10080/get", host, func(code int, _ string) bool { return code == 200 }, proxy)
		took = append(took, time.Since(start))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("%d route changes, update to first 200 through the proxy: p50 %s, p90 %s, max %s", n,
		took[n/2].Round(time.Millisecond), took[n*9/10].Round(time.Millisecond), took[n-1].Round(time.Millisecond))
}
