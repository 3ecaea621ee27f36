package kubernetes_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/kubetest"
)

// `portico run --config FILE` with provider.type Kubernetes, from a
// laptop: the cluster's resources (kubeconfig), proxies on this host, the
// statuses written to the cluster.
func TestRunAgainstCluster(t *testing.T) {
	e := need(t)
	e.Namespace(t, egNamespace)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envoy-gateway.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nprovider: {type: Kubernetes}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	echoBackend(t, backendIP+":3000", "backend")
	qs, err := os.ReadFile(kubetest.Root() + "/examples/kubernetes/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	applyTemp(t, e, qs, "default")
	applyTemp(t, e, endpointSlice("default", "backend", 3000), "default")
	run := newProcess(t, "run", []string{"/portico"}, []string{"run", "--config", cfg, "--state-dir", filepath.Join(dir, "state"),
		"--admin-address", "127.0.0.1:19100", "--xds-address", "127.0.0.1:18100", "--wasm-address", "127.0.0.1:18102",
		"--wasm-cache-dir", filepath.Join(dir, "wasm"), "--listener-address", "127.0.0.1"}, nil, nil)
	// The next test's proxy pod binds the same port: wait for this run's
	// proxies to be gone (a stopping proxy drains first).
	t.Cleanup(func() {
		run.stop()
		deadline := time.Now().Add(45 * time.Second)
		for time.Now().Before(deadline) {
			c, err := net.Dial("tcp", "127.0.0.1:10080")
			if err != nil {
				return
			}
			c.Close()
			time.Sleep(100 * time.Millisecond)
		}
		out, _ := exec.Command("ss", "-ltnp").CombinedOutput()
		t.Errorf("a proxy of portico run still listens after it stopped:\n%s", out)
	})
	waitTraffic(t, "http://127.0.0.1:10080/get", "www.example.com", func(code int, _ string) bool { return code == 200 }, run)
	kubetest.Eventually(t, 20*time.Second, func() error {
		var gw gwapiv1.Gateway
		if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: "eg"}, &gw); err != nil {
			return err
		}
		if !hasCondition(gw.Status.Conditions, "Programmed", "True") {
			return fmt.Errorf("Gateway status %+v", gw.Status.Conditions)
		}
		return nil
	})
}
