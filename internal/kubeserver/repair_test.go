package kubeserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-gw/portico/internal/kubeserver"
	"github.com/portico-gw/portico/internal/kubetest"
)

// The proxy objects are watched: a deleted one comes back and a field
// Portico sets is set back, while our own applies, status updates and
// fields other managers own cause no write.
func TestProxyObjectsRepaired(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "envoy-gateway-system")
	e.Namespace(t, "repair")
	inst := serve(t, kubeserver.Options{Infrastructure: true})
	e.Apply(t, []byte(`
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: repair, namespace: envoy-gateway-system}
spec:
  provider: {type: Kubernetes, kubernetes: {envoyPDB: {minAvailable: 1}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: repair}
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: repair, namespace: envoy-gateway-system}
`), "envoy-gateway-system")
	e.Apply(t, []byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: repair}
spec:
  gatewayClassName: repair
  listeners: [{name: http, protocol: HTTP, port: 8080}]
`), "repair")
	name := "envoy-repair-repair-" + hash8("repair/repair")
	key := types.NamespacedName{Namespace: "envoy-gateway-system", Name: name}
	objs := []client.Object{&corev1.ServiceAccount{}, &corev1.ConfigMap{}, &appsv1.Deployment{}, &corev1.Service{}, &policyv1.PodDisruptionBudget{}}
	kubetest.Eventually(t, 20*time.Second, func() error {
		for _, o := range objs {
			if err := e.Client.Get(ctx, key, o); err != nil {
				return err
			}
		}
		return nil
	})

	// Deleted objects come back.
	for _, o := range []client.Object{&corev1.Service{}, &corev1.ServiceAccount{}, &policyv1.PodDisruptionBudget{}} {
		if err := e.Client.Get(ctx, key, o); err != nil {
			t.Fatal(err)
		}
		uid := o.GetUID()
		if err := e.Client.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
		kubetest.Eventually(t, 10*time.Second, func() error {
			if err := e.Client.Get(ctx, key, o); err != nil {
				return err
			}
			if o.GetUID() == uid {
				return fmt.Errorf("%T not deleted yet", o)
			}
			return nil
		})
	}

	// Edited fields Portico sets are set back: the proxy image, a
	// selector label (which also takes the object out of the watch's
	// selection), the ConfigMap's data.
	var dep appsv1.Deployment
	if err := e.Client.Get(ctx, key, &dep); err != nil {
		t.Fatal(err)
	}
	image := dep.Spec.Template.Spec.Containers[0].Image
	dep.Spec.Template.Spec.Containers[0].Image = "example.com/other:1"
	dep.Labels["app.kubernetes.io/managed-by"] = "someone-else"
	if err := e.Client.Update(ctx, &dep); err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := e.Client.Get(ctx, key, &cm); err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"edited": "yes"}
	if err := e.Client.Update(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 10*time.Second, func() error {
		if err := e.Client.Get(ctx, key, &dep); err != nil {
			return err
		}
		if got := dep.Spec.Template.Spec.Containers[0].Image; got != image || dep.Labels["app.kubernetes.io/managed-by"] != "envoy-gateway" {
			return fmt.Errorf("image %s, managed-by %s", got, dep.Labels["app.kubernetes.io/managed-by"])
		}
		if err := e.Client.Get(ctx, key, &cm); err != nil {
			return err
		}
		if len(cm.Data) < 2 {
			return fmt.Errorf("ConfigMap data %v", cm.Data)
		}
		return nil
	})

	// No loop: a status update and another manager's annotation are
	// compared (the watch saw them) and cause no write.
	writes := inst.Infra.Counts().Writes
	dep.Status.Replicas, dep.Status.ObservedGeneration = 1, dep.Generation
	if err := e.Client.Status().Update(ctx, &dep); err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	if err := e.Client.Get(ctx, key, &svc); err != nil {
		t.Fatal(err)
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/owner":"team-a"}}}`))
	if err := e.Client.Patch(ctx, &svc, patch, client.FieldOwner("team-a")); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 10*time.Second, func() error {
		for id, rv := range map[string]string{"Deployment/" + name: dep.ResourceVersion, "Service/" + name: svc.ResourceVersion} {
			if got := inst.Infra.Checked(id); got != rv {
				return fmt.Errorf("%s compared at resourceVersion %q, want %q", id, got, rv)
			}
		}
		return nil
	})
	if w := inst.Infra.Counts().Writes; w != writes {
		t.Errorf("%d writes for unchanged objects", w-writes)
	}
	if err := e.Client.Get(ctx, key, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Annotations["example.com/owner"] != "team-a" {
		t.Errorf("another manager's annotation was removed: %v", svc.Annotations)
	}
	t.Logf("infrastructure: %+v", inst.Infra.Counts())
}
