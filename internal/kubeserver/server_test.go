package kubeserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/cli"
	"github.com/portico-gw/portico/internal/infra/host"
	kubeinfra "github.com/portico-gw/portico/internal/infra/kubernetes"
	"github.com/portico-gw/portico/internal/kubeserver"
	"github.com/portico-gw/portico/internal/kubetest"
	"github.com/portico-gw/portico/internal/provider/kubernetes"
)

// TestMain runs the package's tests on one API server. A runner that
// starts proxies runs this binary as "<binary> proxy ...": it serves as the
// proxy then, instead of running the tests (and an API server) again.
func TestMain(m *testing.M) {
	cli.RunChildProxy()
	kubetest.Main(m)
}

func needEnv(t *testing.T) *kubetest.Env { return kubetest.Need(t) }

// serve runs a server on env until the test ends and returns its first
// instance.
func serve(t *testing.T, o kubeserver.Options) *kubeserver.Instance {
	t.Helper()
	i, _, _ := serveStoppable(t, o)
	return i
}

// serveStoppable is serve with a stop function (which waits for the
// server) and the channel of later instances (restarts).
func serveStoppable(t *testing.T, o kubeserver.Options) (*kubeserver.Instance, func(), <-chan *kubeserver.Instance) {
	t.Helper()
	o.RestConfig = needEnv(t).Config
	if o.Namespace == "" {
		o.Namespace = "envoy-gateway-system"
	}
	o.XDSAddress, o.AdminAddress, o.WasmAddress = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	o.WasmCacheDir = t.TempDir()
	if !o.Infrastructure && o.DataPlane == "" {
		// These servers are checked through the API server: no proxy
		// process is needed to serve their statuses.
		o.DataPlane = host.None
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
	}
	if o.LeaderElection == nil {
		o.LeaderElection = &kubernetes.LeaderElection{Disable: true}
	}
	started := make(chan *kubeserver.Instance, 4)
	o.Started = func(i *kubeserver.Instance) { started <- i }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- kubeserver.Run(ctx, o) }()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop")
		}
	}
	t.Cleanup(stop)
	select {
	case i := <-started:
		return i, stop, started
	case err := <-done:
		t.Fatalf("server stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start")
	}
	return nil, nil, nil
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func condition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

func wantCondition(cs []metav1.Condition, typ, status, reason string) error {
	c := condition(cs, typ)
	if c == nil {
		return fmt.Errorf("no %s condition in %+v", typ, cs)
	}
	if string(c.Status) != status || (reason != "" && c.Reason != reason) {
		return fmt.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	if c.LastTransitionTime.IsZero() {
		return fmt.Errorf("%s has no lastTransitionTime", typ)
	}
	return nil
}

// The quickstart applied to a real API server: statuses are written back,
// the proxy objects are created as Envoy Gateway names them, the Gateway
// takes its address from the Service, and deleting the Gateway collects
// them.
func TestQuickstartStatusAndInfrastructure(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "envoy-gateway-system")
	inst := serve(t, kubeserver.Options{Infrastructure: true})
	e.Apply(t, readFile(t, "../../examples/kubernetes/quickstart.yaml"), "default")

	var gw gwapiv1.Gateway
	kubetest.Eventually(t, 20*time.Second, func() error {
		var gc gwapiv1.GatewayClass
		if err := e.Client.Get(ctx, types.NamespacedName{Name: "eg"}, &gc); err != nil {
			return err
		}
		if err := wantCondition(gc.Status.Conditions, "Accepted", "True", "Accepted"); err != nil {
			return fmt.Errorf("GatewayClass: %w", err)
		}
		var route gwapiv1.HTTPRoute
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "backend"}, &route); err != nil {
			return err
		}
		if len(route.Status.Parents) != 1 {
			return fmt.Errorf("HTTPRoute parents = %+v", route.Status.Parents)
		}
		if err := wantCondition(route.Status.Parents[0].Conditions, "Accepted", "True", "Accepted"); err != nil {
			return fmt.Errorf("HTTPRoute: %w", err)
		}
		if err := wantCondition(route.Status.Parents[0].Conditions, "ResolvedRefs", "True", "ResolvedRefs"); err != nil {
			return fmt.Errorf("HTTPRoute: %w", err)
		}
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "eg"}, &gw); err != nil {
			return err
		}
		if err := wantCondition(gw.Status.Conditions, "Accepted", "True", "Accepted"); err != nil {
			return fmt.Errorf("Gateway: %w", err)
		}
		// A LoadBalancer Service without a load balancer: no address.
		return wantCondition(gw.Status.Conditions, "Programmed", "False", "AddressNotAssigned")
	})

	name := "envoy-default-eg-e41e7b31"
	key := types.NamespacedName{Namespace: "envoy-gateway-system", Name: name}
	var dep appsv1.Deployment
	var svc corev1.Service
	kubetest.Eventually(t, 10*time.Second, func() error {
		if err := e.Client.Get(ctx, key, &dep); err != nil {
			return err
		}
		return e.Client.Get(ctx, key, &svc)
	})
	for k, v := range map[string]string{"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy",
		"app.kubernetes.io/managed-by": "envoy-gateway", "gateway.envoyproxy.io/owning-gateway-name": "eg",
		"gateway.envoyproxy.io/owning-gateway-namespace": "default"} {
		if dep.Labels[k] != v || svc.Labels[k] != v || dep.Spec.Selector.MatchLabels[k] != v {
			t.Errorf("label %s: Deployment %q, Service %q, selector %q; want %q", k, dep.Labels[k], svc.Labels[k], dep.Spec.Selector.MatchLabels[k], v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http-80" || svc.Spec.Ports[0].TargetPort.IntValue() != 10080 {
		t.Errorf("Service ports = %+v", svc.Spec.Ports)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("Service type %s, externalTrafficPolicy %s", svc.Spec.Type, svc.Spec.ExternalTrafficPolicy)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Name != "envoy" || c.Args[0] != "--service-cluster" || c.Args[1] != "default/eg" {
		t.Errorf("envoy container = %s %v", c.Name, c.Args[:2])
	}

	// A load balancer assigns an address: the Gateway reports it.
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
	if err := e.Client.Status().Update(ctx, &svc); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 10*time.Second, func() error {
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "eg"}, &gw); err != nil {
			return err
		}
		if len(gw.Status.Addresses) != 1 || gw.Status.Addresses[0].Value != "192.0.2.10" {
			return fmt.Errorf("addresses = %+v", gw.Status.Addresses)
		}
		// No proxy is connected: the runner's Programmed (Pending).
		if c := condition(gw.Status.Conditions, "Programmed"); c == nil || c.Reason == "AddressNotAssigned" {
			return fmt.Errorf("Programmed = %+v", c)
		}
		return nil
	})
	writes := inst.Status.Counts().Writes

	// The Gateway goes: its objects go.
	if err := e.Client.Delete(ctx, &gw); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 10*time.Second, func() error {
		var d appsv1.Deployment
		if err := e.Client.Get(ctx, key, &d); err == nil {
			return fmt.Errorf("Deployment %s still there", name)
		}
		var s corev1.Service
		if err := e.Client.Get(ctx, key, &s); err == nil {
			return fmt.Errorf("Service %s still there", name)
		}
		return nil
	})
	t.Logf("status writes before the deletion: %d", writes)
}

// The OPA guide's EnvoyProxy patch reaches the cluster's Deployment; a
// patch that cannot apply is reported on the Gateway and the EnvoyProxy
// (Envoy Gateway only logs it), and the Deployment in the cluster is left
// as it was.
func TestEnvoyProxyPatches(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "envoy-gateway-system")
	e.Namespace(t, "patches")
	serve(t, kubeserver.Options{Infrastructure: true})
	e.Apply(t, readFile(t, "../../examples/kubernetes/opa-envoyproxy.yaml"), "envoy-gateway-system")
	e.Apply(t, []byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: opa}
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: eg, namespace: envoy-gateway-system}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: opa}
spec:
  gatewayClassName: opa
  listeners: [{name: http, protocol: HTTP, port: 8080}]
`), "patches")
	key := types.NamespacedName{Namespace: "envoy-gateway-system", Name: "envoy-patches-opa-" + hash8("patches/opa")}
	var dep appsv1.Deployment
	kubetest.Eventually(t, 20*time.Second, func() error {
		if err := e.Client.Get(ctx, key, &dep); err != nil {
			return err
		}
		if n := len(dep.Spec.Template.Spec.Containers); n != 3 {
			return fmt.Errorf("%d containers", n)
		}
		return nil
	})
	if c := dep.Spec.Template.Spec.Containers[1]; c.Name != "opa" || len(c.VolumeMounts) != 2 {
		t.Errorf("opa container = %s with %d mounts", c.Name, len(c.VolumeMounts))
	}
	if m := dep.Spec.Template.Spec.Containers[0].VolumeMounts; m[0].MountPath != "/shared/opa" {
		t.Errorf("envoy mounts = %+v", m)
	}

	// Now a patch that cannot apply.
	e.Apply(t, []byte(`
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: eg, namespace: envoy-gateway-system}
spec:
  provider:
    type: Kubernetes
    kubernetes:
      envoyDeployment:
        patch:
          type: StrategicMerge
          value: {spec: {template: {spec: {containres: []}}}}
`), "envoy-gateway-system")
	kubetest.Eventually(t, 20*time.Second, func() error {
		var gw gwapiv1.Gateway
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: "patches", Name: "opa"}, &gw); err != nil {
			return err
		}
		if err := wantCondition(gw.Status.Conditions, "Programmed", "False", "Invalid"); err != nil {
			return err
		}
		if msg := condition(gw.Status.Conditions, "Programmed").Message; !strings.Contains(msg, "envoyDeployment.patch") ||
			!strings.Contains(msg, "containres") {
			return fmt.Errorf("Programmed message %q", msg)
		}
		var ep egv1a1.EnvoyProxy
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: "envoy-gateway-system", Name: "eg"}, &ep); err != nil {
			return err
		}
		for _, a := range ep.Status.Ancestors {
			if string(a.AncestorRef.Name) == "opa" {
				return wantCondition(a.Conditions, "Programmed", "False", "Invalid")
			}
		}
		return fmt.Errorf("EnvoyProxy ancestors = %+v", ep.Status.Ancestors)
	})
	// The Deployment keeps the last good patch.
	if err := e.Client.Get(ctx, key, &dep); err != nil {
		t.Fatal(err)
	}
	if n := len(dep.Spec.Template.Spec.Containers); n != 3 {
		t.Errorf("the Deployment changed: %d containers", n)
	}
}

func hash8(key string) string {
	n := kubeinfra.ResourceName(key)
	return n[len(n)-8:]
}
