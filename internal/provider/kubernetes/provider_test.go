package kubernetes_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/kubetest"
	"github.com/portico-gw/portico/internal/provider"
	"github.com/portico-gw/portico/internal/provider/kubernetes"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

func needEnv(t *testing.T) *kubetest.Env { return kubetest.Need(t) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startProvider starts a provider on env for the test's lifetime.
func startProvider(t *testing.T, ns string, o kubernetes.Options) *kubernetes.Provider {
	t.Helper()
	o.Config, o.Namespace = needEnv(t).Config, ns
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	p, err := kubernetes.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.Done():
		case <-time.After(20 * time.Second):
			t.Error("the provider did not stop")
		}
	})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func gatewayClass(name string) *gwapiv1.GatewayClass {
	return &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: gwapiv1.GatewayClassSpec{ControllerName: "gateway.envoyproxy.io/gatewayclass-controller"}}
}

// Load holds what the cluster holds, with TypeMeta set, and a status-only
// write (which is what our own status writes are) does not mark the input
// dirty, while a spec change does.
func TestLoadAndChangeDetection(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "load")
	p := startProvider(t, "load", kubernetes.Options{LeaderElection: kubernetes.LeaderElection{Disable: true}})
	updates := make(chan provider.Update, 16)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = p.Run(rctx, func(u provider.Update) { updates <- u }) }()

	gc := gatewayClass("load-class")
	if err := e.Client.Create(ctx, gc); err != nil {
		t.Fatal(err)
	}
	u := waitUpdate(t, updates, func(u provider.Update) bool { return findClass(u, "load-class") != nil })
	got := findClass(u, "load-class")
	if got.APIVersion != "gateway.networking.k8s.io/v1" || got.Kind != "GatewayClass" {
		t.Fatalf("TypeMeta = %+v", got.TypeMeta)
	}
	if !u.Applied || u.Set.Len() == 0 {
		t.Fatalf("update = %+v", u)
	}

	// A status write: no load follows.
	gc.Status.Conditions = []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", Message: "m",
		LastTransitionTime: metav1.Now(), ObservedGeneration: gc.Generation}}
	if err := e.Client.Status().Update(ctx, gc); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-updates:
		t.Fatalf("a status-only write caused load %d", u.Generation)
	case <-time.After(500 * time.Millisecond):
	}

	// A spec change does, and the Set has the new object.
	if err := e.Client.Get(ctx, types.NamespacedName{Name: "load-class"}, gc); err != nil {
		t.Fatal(err)
	}
	desc := "changed"
	gc.Spec.Description = &desc
	if err := e.Client.Update(ctx, gc); err != nil {
		t.Fatal(err)
	}
	waitUpdate(t, updates, func(u provider.Update) bool {
		c := findClass(u, "load-class")
		return c != nil && c.Spec.Description != nil && *c.Spec.Description == "changed"
	})

	// A deletion too.
	if err := e.Client.Delete(ctx, gc); err != nil {
		t.Fatal(err)
	}
	waitUpdate(t, updates, func(u provider.Update) bool { return findClass(u, "load-class") == nil })
}

// A burst of changes is coalesced into few loads.
func TestBurstCoalesced(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "burst")
	p := startProvider(t, "burst", kubernetes.Options{LeaderElection: kubernetes.LeaderElection{Disable: true},
		Debounce: 200 * time.Millisecond, MaxDelay: 5 * time.Second})
	updates := make(chan provider.Update, 64)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = p.Run(rctx, func(u provider.Update) { updates <- u }) }()
	for i := range 20 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "burst", Name: fmt.Sprintf("cm-%d", i)}}
		if err := e.Client.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	u := waitUpdate(t, updates, func(u provider.Update) bool { return countConfigMaps(u, "burst") == 20 })
	// 20 creations a few ms apart, with a 200 ms quiet period: one load,
	// two if the machine paused mid-burst.
	if u.Generation > 2 {
		t.Fatalf("20 creations took %d loads", u.Generation)
	}
}

func countConfigMaps(u provider.Update, ns string) int {
	n := 0
	for _, c := range u.Set.ConfigMaps {
		if c.Namespace == ns {
			n++
		}
	}
	return n
}

func findClass(u provider.Update, name string) *gwapiv1.GatewayClass {
	for _, c := range u.Set.GatewayClasses {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func waitUpdate(t *testing.T, updates <-chan provider.Update, ok func(provider.Update) bool) provider.Update {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case u := <-updates:
			if ok(u) {
				return u
			}
		case <-timeout:
			t.Fatal("no matching update within 15s")
		}
	}
}
