package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/kubetest"
	"github.com/portico-gw/portico/internal/proxy/stats/promtest"
)

// echoBackend serves JSON echoes of requests on addr until the test ends.
func echoBackend(t *testing.T, addr, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "host": r.Host, "pod": name, "headers": r.Header})
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// endpointSlice is what the EndpointSlice controller would write for a
// Service whose pod is the local backend.
func endpointSlice(ns, service string, port int32) []byte {
	return []byte(fmt.Sprintf(`
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[2]s-local
  namespace: %[1]s
  labels: {kubernetes.io/service-name: %[2]s}
addressType: IPv4
endpoints: [{addresses: [%[3]s], conditions: {ready: true}}]
ports: [{name: http, port: %[4]d, protocol: TCP}]
`, ns, service, backendIP, port))
}

// proxyPod starts the pod of a proxy Deployment: its envoy container as a
// process, from the Deployment's own command, args and volumes, listening
// on 127.0.0.1, the address assignLoadBalancers gives its Service.
func proxyPod(t *testing.T, e *kubetest.Env, name string) *process {
	t.Helper()
	ctx := context.Background()
	var dep appsv1.Deployment
	var p *pod
	// A kubelet retries a pod whose ConfigMap or Secret is not there yet;
	// so does this (the control plane may still be writing them, or
	// collecting a previous test's Deployment of the same name).
	kubetest.Eventually(t, 30*time.Second, func() error {
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: egNamespace, Name: name}, &dep); err != nil {
			return err
		}
		if dep.DeletionTimestamp != nil {
			return fmt.Errorf("deployment %s is being deleted", name)
		}
		spec := &dep.Spec.Template.Spec
		if c := &spec.Containers[0]; c.Name != "envoy" {
			return fmt.Errorf("first container %s", c.Name)
		}
		p = &pod{dir: t.TempDir(), mounts: map[string]string{}, e: e, ns: egNamespace, spec: spec, c: &spec.Containers[0]}
		return p.sync()
	})
	c := p.c
	pr := newProcess(t, name, c.Command, c.Args, map[string]string{"ENVOY_POD_NAME": name + "-pod", "ENVOY_POD_NAMESPACE": egNamespace}, p)
	// assignLoadBalancers gives its Service the address.
	return pr
}

// get sends GET url with a Host header and returns the status and body.
func get(url, host string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), nil
}

func waitTraffic(t *testing.T, url, host string, ok func(int, string) bool, proc *process) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := get(url, host)
		if err == nil && ok(code, body) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s (Host %s): %d %q %v\n%s", url, host, code, body, err, proc.output())
		}
		// Fine enough for the propagation figure, which waits with it.
		time.Sleep(5 * time.Millisecond)
	}
}

func gatewayCondition(t *testing.T, e *kubetest.Env, ns, name, typ string) *metav1.Condition {
	var gw gwapiv1.Gateway
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &gw); err != nil {
		return nil
	}
	for i := range gw.Status.Conditions {
		if gw.Status.Conditions[i].Type == typ {
			return &gw.Status.Conditions[i]
		}
	}
	return nil
}

// The quickstart as the guide runs it: helm install, kubectl apply, the
// proxy pod, curl through the Gateway's address; statuses where kubectl
// shows them.
func TestQuickstart(t *testing.T) {
	e := need(t)
	r := install(t, e, nil)
	cp := controlPlane(t, e, r)
	waitHTTP(t, "http://127.0.0.1:8081/readyz", 60*time.Second, cp)
	echoBackend(t, backendIP+":3000", "backend")
	qs, err := os.ReadFile(kubetest.Root() + "/examples/kubernetes/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	applyTemp(t, e, qs, "default")
	applyTemp(t, e, endpointSlice("default", "backend", 3000), "default")
	proxy := proxyPod(t, e, "envoy-default-eg-e41e7b31")

	waitTraffic(t, "http://127.0.0.1:10080/get", "www.example.com", func(code int, body string) bool {
		return code == 200 && strings.Contains(body, `"path":"/get"`) && strings.Contains(body, `"pod":"backend"`)
	}, proxy)
	kubetest.Eventually(t, 30*time.Second, func() error {
		c := gatewayCondition(t, e, "default", "eg", "Programmed")
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Programmed = %+v\n%s", c, proxy.output())
		}
		return nil
	})
	var gw gwapiv1.Gateway
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: "eg"}, &gw); err != nil {
		t.Fatal(err)
	}
	if len(gw.Status.Addresses) != 1 || gw.Status.Addresses[0].Value != "127.0.0.1" {
		t.Fatalf("addresses = %+v", gw.Status.Addresses)
	}
	scrapeAsEnvoyGateway(t, proxy)
}

// scrapeAsEnvoyGateway reads the proxy pod's stats where Envoy Gateway
// users scrape them, :19001/stats/prometheus (the bootstrap's static
// listener, routed to the admin interface), and checks that one more
// request through the Gateway is counted once.
func scrapeAsEnvoyGateway(t *testing.T, proxy *process) {
	t.Helper()
	okRequests := func() float64 {
		resp, err := http.Get("http://127.0.0.1:19001/stats/prometheus")
		if err != nil {
			t.Fatalf("scrape: %v\n%s", err, proxy.output())
		}
		defer resp.Body.Close()
		families, err := promtest.Parse(resp.Body)
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		v, _ := promtest.Value(families["envoy_http_downstream_rq_xx"],
			map[string]string{"envoy_http_conn_manager_prefix": "http-10080", "envoy_response_code_class": "2"})
		return v
	}
	before := okRequests()
	if before < 1 {
		t.Fatalf("the quickstart's 200s are not counted: %v", before)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:10080/get", nil)
	req.Host = "www.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /get: %v %v", resp, err)
	}
	resp.Body.Close()
	kubetest.Eventually(t, 10*time.Second, func() error {
		if got := okRequests(); got != before+1 {
			return fmt.Errorf("envoy_http_downstream_rq_xx{2} = %v, want %v", got, before+1)
		}
		return nil
	})
}

// headerOf waits for a response header of GET url and returns it.
func headerOf(t *testing.T, url, host, name string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if v := resp.Header.Get(name); v != "" {
				return v
			}
		}
		if time.Now().After(deadline) {
			return ""
		}
		time.Sleep(50 * time.Millisecond)
	}
}
