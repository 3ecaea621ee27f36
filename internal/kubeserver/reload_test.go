package kubeserver_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/kubeserver"
	"github.com/portico-gw/portico/internal/kubetest"
	"github.com/portico-gw/portico/internal/provider/kubernetes"
)

const configHeader = "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nprovider: {type: Kubernetes}\n"

// writeConfig replaces the file as the kubelet updates a mounted
// ConfigMap: a new file renamed over the old.
func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func policyCondition(ctx context.Context, e *kubetest.Env, ns, name string) (*metav1.Condition, error) {
	var p egv1a1.EnvoyPatchPolicy
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
		return nil, err
	}
	if len(p.Status.Ancestors) == 0 {
		return nil, fmt.Errorf("no ancestors")
	}
	return condition(p.Status.Ancestors[0].Conditions, "Accepted"), nil
}

// The guide's edit of envoy-gateway-config enabling EnvoyPatchPolicy takes
// effect without a restart of the process; an edit that is not an
// EnvoyGateway is rejected and the running configuration kept.
func TestConfigReload(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "reload")
	path := filepath.Join(t.TempDir(), "envoy-gateway.yaml")
	writeConfig(t, path, configHeader)
	_, _, restarts := serveStoppable(t, kubeserver.Options{ConfigPath: path, Namespace: "reload"})
	e.Apply(t, []byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: reload}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: reload
  listeners: [{name: http, protocol: HTTP, port: 8081}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata: {name: p}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw}
  type: JSONPatch
  jsonPatches:
    - type: type.googleapis.com/envoy.config.listener.v3.Listener
      name: reload/gw/http
      operation: {op: add, path: /per_connection_buffer_limit_bytes, value: 32768}
`), "reload")
	kubetest.Eventually(t, 20*time.Second, func() error {
		c, err := policyCondition(ctx, e, "reload", "p")
		if err != nil {
			return err
		}
		if c == nil || c.Status != metav1.ConditionFalse || c.Message != "EnvoyPatchPolicy is disabled in the EnvoyGateway configuration" {
			return fmt.Errorf("Accepted = %+v", c)
		}
		return nil
	})

	writeConfig(t, path, configHeader+"extensionApis: {enableEnvoyPatchPolicy: true}\n")
	select {
	case <-restarts:
	case <-time.After(20 * time.Second):
		t.Fatal("no restart after a valid change")
	}
	kubetest.Eventually(t, 20*time.Second, func() error {
		c, err := policyCondition(ctx, e, "reload", "p")
		if err != nil {
			return err
		}
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Accepted = %+v", c)
		}
		return nil
	})

	// A ConfigMap is not an EnvoyGateway: rejected, nothing restarts.
	writeConfig(t, path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	select {
	case <-restarts:
		t.Fatal("an invalid configuration restarted the server")
	case <-time.After(time.Second):
	}
	if c, err := policyCondition(ctx, e, "reload", "p"); err != nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Accepted = %+v, %v", c, err)
	}
}

// Two replicas: only the leader writes status; when it stops, the other
// takes the Lease and writes what changed since.
func TestLeaderFailover(t *testing.T) {
	e := needEnv(t)
	ctx := context.Background()
	e.Namespace(t, "failover")
	le := &kubernetes.LeaderElection{LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, Retry: 500 * time.Millisecond}
	a, stopA, _ := serveStoppable(t, kubeserver.Options{Namespace: "failover", LeaderElection: le})
	select {
	case <-a.Provider.Elected():
	case <-time.After(20 * time.Second):
		t.Fatal("the first replica was not elected")
	}
	b, _, bRestarts := serveStoppable(t, kubeserver.Options{Namespace: "failover", LeaderElection: le})
	accepted := func(name string) func() error {
		return func() error {
			var gc gwapiv1.GatewayClass
			if err := e.Client.Get(ctx, types.NamespacedName{Name: name}, &gc); err != nil {
				return err
			}
			return wantCondition(gc.Status.Conditions, "Accepted", "True", "Accepted")
		}
	}
	// GatewayClasses are cluster-wide and outlive a run: fresh names keep
	// a repeated run (-count) from finding them accepted already.
	class := func(n int) string { return fmt.Sprintf("failover-%d-%d", time.Now().UnixNano(), n) }
	first, second := class(1), class(2)
	gatewayClass := func(name string) []byte {
		return []byte("apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: " + name +
			"}\nspec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}\n")
	}
	e.Apply(t, gatewayClass(first), "")
	kubetest.Eventually(t, 20*time.Second, accepted(first))
	if n := b.Status.Counts().Writes; n != 0 {
		t.Fatalf("the replica that does not lead wrote %d statuses", n)
	}
	stopA()
	e.Apply(t, gatewayClass(second), "")
	kubetest.Eventually(t, 30*time.Second, accepted(second))
	// The second replica wrote nothing while it did not lead, so its
	// writes (over every instance, had it restarted in-process after
	// taking the Lease) are the new leader's. A restart is announced on
	// its own channel and may arrive after the status it wrote.
	instances := []*kubeserver.Instance{b}
	kubetest.Eventually(t, 10*time.Second, func() error {
		for drained := false; !drained; {
			select {
			case i := <-bRestarts:
				t.Log("the second replica restarted in-process")
				instances = append(instances, i)
			default:
				drained = true
			}
		}
		for _, i := range instances {
			if i.Status.Counts().Writes > 0 {
				return nil
			}
		}
		return errors.New("the new leader wrote nothing")
	})
}

// The API server restarts under a leading controller: if it is away past
// the renew deadline the Lease is lost and the control plane restarts
// in-process; either way what changes afterwards gets its status.
func TestAPIServerRestart(t *testing.T) {
	e := needEnv(t)
	e.Namespace(t, "restart")
	le := &kubernetes.LeaderElection{} // Envoy Gateway's 15 s / 10 s / 2 s
	inst, _, restarts := serveStoppable(t, kubeserver.Options{Namespace: "restart", LeaderElection: le})
	select {
	case <-inst.Provider.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("not elected")
	}
	accepted := func(name string) func() error {
		return func() error {
			var gc gwapiv1.GatewayClass
			if err := e.Client.Get(context.Background(), types.NamespacedName{Name: name}, &gc); err != nil {
				return err
			}
			return wantCondition(gc.Status.Conditions, "Accepted", "True", "Accepted")
		}
	}
	class := func(name string) []byte {
		return []byte("apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: " + name +
			"}\nspec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}\n")
	}
	e.Apply(t, class("restart-1"), "")
	kubetest.Eventually(t, 20*time.Second, accepted("restart-1"))
	if err := e.RestartAPIServer(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	e.Apply(t, class("restart-2"), "")
	kubetest.Eventually(t, 90*time.Second, accepted("restart-2"))
	select {
	case <-restarts:
		t.Log("the Lease was lost: restarted in-process")
	default:
	}
	_ = inst
}
