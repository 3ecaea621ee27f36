package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/kubetest"
)

// quickstartWithProxy installs the chart, starts the control plane and the
// quickstart's proxy pod, and waits for its traffic.
func quickstartWithProxy(t *testing.T, e *kubetest.Env) (cp, proxy *process) {
	t.Helper()
	r := install(t, e, nil)
	cp = controlPlane(t, e, r)
	waitHTTP(t, "http://127.0.0.1:8081/readyz", 60*time.Second, cp)
	echoBackend(t, backendIP+":3000", "backend")
	qs, err := os.ReadFile(kubetest.Root() + "/examples/kubernetes/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	applyTemp(t, e, qs, "default")
	applyTemp(t, e, endpointSlice("default", "backend", 3000), "default")
	proxy = proxyPod(t, e, "envoy-default-eg-e41e7b31")
	waitTraffic(t, "http://127.0.0.1:10080/get", "www.example.com", func(code int, _ string) bool { return code == 200 }, proxy)
	return cp, proxy
}

// applyFile applies a file of the repository, deleting its objects when
// the test ends.
func applyFile(t *testing.T, e *kubetest.Env, path string) {
	t.Helper()
	b, err := os.ReadFile(kubetest.Root() + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	applyTemp(t, e, b, "default")
}

// applyTemp applies objects and deletes them when the test ends, so that
// every test starts from a cluster without the others' Gateways.
func applyTemp(t *testing.T, e *kubetest.Env, data []byte, ns string) {
	t.Helper()
	for _, u := range e.Apply(t, data, ns) {
		t.Cleanup(func() { _ = e.Client.Delete(context.Background(), u) })
	}
}

// The guides' order: EnvoyPatchPolicy and Lua are off until the
// envoy-gateway-config ConfigMap enables them; the edit reaches the
// control plane through the mounted file, and then the policies work
// through the cluster path.
func TestConfigMapEditEnablesPatchPolicyAndLua(t *testing.T) {
	e := need(t)
	ctx := context.Background()
	cp, proxy := quickstartWithProxy(t, e)
	applyFile(t, e, "examples/patch-policy/policies/custom-response.yaml")
	applyFile(t, e, "examples/lua/policies/lua-valueref.yaml")

	kubetest.Eventually(t, 20*time.Second, func() error {
		var p egv1a1.EnvoyPatchPolicy
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "custom-response-patch-policy"}, &p); err != nil {
			return err
		}
		if len(p.Status.Ancestors) == 0 || !hasCondition(p.Status.Ancestors[0].Conditions, "Accepted", metav1.ConditionFalse) {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})
	if code, _, err := get("http://127.0.0.1:10080/", "unknown.example.org"); err != nil || code != 404 {
		t.Fatalf("before the edit: %d %v", code, err)
	}

	editGatewayConfig(t, e, cp, "extensionApis: {}", "extensionApis:\n  enableEnvoyPatchPolicy: true\n  enableLua: true")
	waitTraffic(t, "http://127.0.0.1:10080/", "unknown.example.org", func(code int, body string) bool {
		return code == 406 && strings.Contains(body, "could not find what you are looking for")
	}, cp)
	waitTraffic(t, "http://127.0.0.1:10080/", "www.example.com", func(code int, _ string) bool { return code == 200 }, proxy)
	resp := headerOf(t, "http://127.0.0.1:10080/", "www.example.com", "x-lua-custom")
	if resp != "FOO" {
		t.Fatalf("x-lua-custom = %q", resp)
	}
	kubetest.Eventually(t, 20*time.Second, func() error {
		var p egv1a1.EnvoyPatchPolicy
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "custom-response-patch-policy"}, &p); err != nil {
			return err
		}
		if len(p.Status.Ancestors) == 0 || !hasCondition(p.Status.Ancestors[0].Conditions, "Programmed", metav1.ConditionTrue) {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})
}

// editGatewayConfig is the guides' edit of the envoy-gateway-config
// ConfigMap (old replaced by new in envoy-gateway.yaml), undone when the
// test ends; the control plane's mount is updated as a kubelet would.
func editGatewayConfig(t *testing.T, e *kubetest.Env, cp *process, old, new string) {
	t.Helper()
	ctx := context.Background()
	var cm corev1.ConfigMap
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: egNamespace, Name: "envoy-gateway-config"}, &cm); err != nil {
		t.Fatal(err)
	}
	orig := cm.Data["envoy-gateway.yaml"]
	cm.Data["envoy-gateway.yaml"] = strings.Replace(orig, old, new, 1)
	if cm.Data["envoy-gateway.yaml"] == orig {
		t.Fatalf("no %q in %s", old, orig)
	}
	if err := e.Client.Update(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cm.Data["envoy-gateway.yaml"] = orig
		_ = e.Client.Update(context.Background(), &cm)
		_ = cp.pod.sync()
	})
	if err := cp.pod.sync(); err != nil {
		t.Fatal(err)
	}
}

func hasCondition(cs []metav1.Condition, typ string, st metav1.ConditionStatus) bool {
	for _, c := range cs {
		if c.Type == typ {
			return c.Status == st
		}
	}
	return false
}
