package kubeserver_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/kubeserver"
)

// TestRouteStatusFigures measures, on the real API server, the time from
// creating N HTTPRoutes (PORTICO_K8S_ROUTES, e.g. 1000) to all of them
// having Accepted status, the status writes that took, and the heap. It is
// a figure, not a test: it runs only when asked.
//
//	PORTICO_K8S_ROUTES=1000 go test ./internal/kubeserver -run RouteStatusFigures -v
func TestRouteStatusFigures(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PORTICO_K8S_ROUTES"))
	if n <= 0 {
		t.Skip("set PORTICO_K8S_ROUTES=N to measure")
	}
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "figures")
	inst := serve(t, kubeserver.Options{Namespace: "figures"})
	e.Apply(t, []byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: figures}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: figures
  listeners: [{name: http, protocol: HTTP, port: 8082}]
`), "figures")
	time.Sleep(2 * time.Second)
	before := inst.Status.Counts()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "figures", Name: fmt.Sprintf("r-%05d", i)},
					Spec: gwapiv1.HTTPRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
						Hostnames: []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("h%d.example.com", i))}}}
				if err := e.Client.Create(ctx, r); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	created := time.Since(start)
	for {
		var list gwapiv1.HTTPRouteList
		if err := e.Client.List(ctx, &list, client.InNamespace("figures")); err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, r := range list.Items {
			if len(r.Status.Parents) == 1 && condition(r.Status.Parents[0].Conditions, "Accepted") != nil {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("%d of %d routes have status after 10 minutes", done, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	all := time.Since(start)
	after := inst.Status.Counts()
	// One route changed among them: how many statuses are written.
	time.Sleep(2 * time.Second) // let the last publications settle
	settled := inst.Status.Counts()
	var one gwapiv1.HTTPRoute
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: "figures", Name: "r-00000"}, &one); err != nil {
		t.Fatal(err)
	}
	one.Spec.Hostnames = append(one.Spec.Hostnames, "changed.example.com")
	if err := e.Client.Update(ctx, &one); err != nil {
		t.Fatal(err)
	}
	for {
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: "figures", Name: "r-00000"}, &one); err != nil {
			t.Fatal(err)
		}
		if len(one.Status.Parents) == 1 && one.Status.Parents[0].Conditions[0].ObservedGeneration == one.Generation {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	changed := inst.Status.Counts()
	t.Logf("one route changed among %d: %d status write(s)", n, changed.Writes-settled.Writes)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d routes: created in %s, all with status after %s (%s after the last create); status writes %d (unchanged %d, failed %d); heap in use %d MiB (test process: server and client)",
		n, created.Round(time.Millisecond), all.Round(time.Millisecond), (all - created).Round(time.Millisecond),
		after.Writes-before.Writes, after.Unchanged-before.Unchanged, after.Failed-before.Failed, ms.HeapInuse>>20)
}
