package kubeserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/internal/kubeserver"
	"github.com/portico-gw/portico/internal/kubetest"
)

const workloadClass = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: workloads}
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: workloads, namespace: envoy-gateway-system}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: workloads
  listeners: [{name: http, protocol: HTTP, port: 8080}]
`

func workloadProxy(kubernetes string) []byte {
	return []byte(`
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: workloads, namespace: envoy-gateway-system}
spec:
  provider:
    type: Kubernetes
    kubernetes: ` + kubernetes + "\n")
}

// EnvoyProxy envoyDaemonSet runs the proxies as a DaemonSet: switching
// between it and envoyDeployment replaces one workload by the other in
// the cluster, and the HPA goes with the Deployment.
func TestDaemonSetWorkload(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "envoy-gateway-system")
	e.Namespace(t, "workloads")
	serve(t, kubeserver.Options{Infrastructure: true})
	e.Apply(t, workloadProxy(`{envoyDeployment: {replicas: 2}, envoyHpa: {maxReplicas: 3}}`), "envoy-gateway-system")
	e.Apply(t, []byte(workloadClass), "workloads")
	key := types.NamespacedName{Namespace: "envoy-gateway-system", Name: "envoy-workloads-edge-" + hash8("workloads/edge")}
	present := func(dep, ds, hpa bool) error {
		for _, o := range []struct {
			want bool
			obj  client.Object
		}{{dep, &appsv1.Deployment{}}, {ds, &appsv1.DaemonSet{}}, {hpa, &autoscalingv2.HorizontalPodAutoscaler{}}} {
			if err := e.Client.Get(ctx, key, o.obj); (err == nil) != o.want {
				return fmt.Errorf("want Deployment %v DaemonSet %v HPA %v; got %v", dep, ds, hpa, err)
			}
		}
		return nil
	}
	kubetest.Eventually(t, 20*time.Second, func() error { return present(true, false, true) })

	e.Apply(t, workloadProxy(`{envoyDaemonSet: {pod: {labels: {tier: edge}}, patch: {value: {spec: {minReadySeconds: 5}}}}}`), "envoy-gateway-system")
	kubetest.Eventually(t, 20*time.Second, func() error { return present(false, true, false) })
	var ds appsv1.DaemonSet
	if err := e.Client.Get(ctx, key, &ds); err != nil {
		t.Fatal(err)
	}
	if ds.Spec.Template.Labels["tier"] != "edge" || ds.Spec.MinReadySeconds != 5 ||
		ds.Spec.Selector.MatchLabels["gateway.envoyproxy.io/owning-gateway-name"] != "edge" ||
		ds.Spec.Template.Spec.Containers[0].Args[1] != "workloads/edge" {
		t.Errorf("DaemonSet labels %v, minReadySeconds %d, selector %v", ds.Spec.Template.Labels, ds.Spec.MinReadySeconds, ds.Spec.Selector.MatchLabels)
	}

	e.Apply(t, workloadProxy(`{envoyDeployment: {}}`), "envoy-gateway-system")
	kubetest.Eventually(t, 20*time.Second, func() error { return present(true, false, false) })
}

// The API server refuses the combinations Envoy Gateway's CRD refuses,
// with its messages (the control plane reports them too, for files).
func TestCRDRefusesTwoWorkloads(t *testing.T) {
	e := needEnv(t)
	e.Namespace(t, "envoy-gateway-system")
	for _, tc := range []struct{ kubernetes, want string }{
		{`{envoyDeployment: {}, envoyDaemonSet: {}}`, "only one of envoyDeployment or envoyDaemonSet can be specified"},
		{`{envoyDaemonSet: {}, envoyHpa: {maxReplicas: 3}}`, "cannot use envoyHpa if envoyDaemonSet is used"},
	} {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(workloadProxy(tc.kubernetes), &obj.Object); err != nil {
			t.Fatal(err)
		}
		obj.SetName("two-workloads")
		err := e.Client.Create(context.Background(), obj)
		if err == nil {
			_ = e.Client.Delete(context.Background(), obj)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.kubernetes, err, tc.want)
		}
	}
}
