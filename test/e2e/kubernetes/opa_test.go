package kubernetes_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/kubetest"
)

// guideToken is the OPA guide's VALID_TOKEN: signed by a key of
// examples/opa-ext-authz/jwks.json, iss https://foo.bar.com, no exp.
const guideToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImI1MjBiM2MyYzRiZDc1YTEwZTljZWJjOTU3NjkzM2RjIn0.eyJpc3MiOiJodHRwczovL2Zvby5iYXIuY29tIiwic3ViIjoiMTIzNDU2Nzg5MCIsInVzZXIiOnsibmFtZSI6IkpvaG4gRG9lIiwiZW1haWwiOiJqb2huLmRvZUBleGFtcGxlLmNvbSIsInJvbGVzIjpbImFkbWluIiwiZWRpdG9yIl19LCJwcmVtaXVtX3VzZXIiOnRydWUsImlhdCI6MTUxNjIzOTAyMiwic2NvcGUiOiJyZWFkIGFkZCBkZWxldGUgbW9kaWZ5In0.P36iAlmiRCC79OiB3vstF5Q_9OqUYAMGF3a3H492GlojbV6DcuOz8YIEYGsRSWc-BNJaBKlyvUKsKsGVPtYbbF8ajwZTs64wyO-zhd2R8riPkg_HsW7iwGswV12f5iVRpfQ4AG2owmdOToIaoch0aym89He1ZzEjcShr9olgqlAbbmhnk-namd1rP-xpzPnWhhIVI3mCz5hYYgDTMcM7qbokM5FzFttTRXAn5_Luor23U1062Ct_K53QArwxBvwJ-QYiqcBycHf-hh6sMx_941cUswrZucCpa-EwA3piATf9PKAyeeWHfHV9X-y8ipGOFg3mYMMVBuUZ1lBkJCik9f9kboRY6QzpOISARQj9PKMXfxZdIPNuGmA7msSNAXQgqkvbx04jMwb9U7eCEdGZztH4C8LhlRjgj0ZdD7eNbRjeH2F6zrWyMUpGWaWyq6rMuP98W2DWM5ZflK6qvT1c7FuFsWPvWLkgxQwTWQKrHdKwdbsu32Sj8VtUBJ0-ddEb"

const quickstartProxy = "envoy-default-eg-e41e7b31"

// Envoy Gateway's "OPA Sidecar with Unix Domain Socket" task as the guide
// runs it in a cluster: the ConfigMap edit enabling Backend, the policy
// ConfigMap, the EnvoyProxy whose deployment patch adds the opa container
// (its image here is examples/opa-ext-authz, which takes OPA's command
// line), the SecurityPolicy with jwt_authn then ext_authz over the
// socket both containers mount, and the guide's requests; then the
// guide's fix, ALLOWED_ISS edited in the EnvoyProxy, reaching the pod.
func TestOPASidecarGuide(t *testing.T) {
	e := need(t)
	ctx := context.Background()
	opaBin := buildOPA(t)
	cp, proxy := quickstartWithProxy(t, e)
	jwksServer(t, "127.0.0.1:8000")

	// Step 1: enable the Backend API.
	editGatewayConfig(t, e, cp, "extensionApis: {}", "extensionApis:\n  enableBackend: true")
	// Step 2: the policy.
	policy, err := os.ReadFile(kubetest.Root() + "/examples/opa-ext-authz/policy.rego")
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "opa-policy", Namespace: egNamespace},
		Data: map[string]string{"policy.rego": string(policy)}}
	if err := e.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), cm) })
	// Step 3: the sidecar, and the GatewayClass pointing at it.
	applyFile(t, e, "examples/kubernetes/opa-envoyproxy.yaml")
	applyFile(t, e, "examples/opa-ext-authz/manifests/gateway.yaml")
	// The deployment changed: a kubelet would replace the pod.
	proxy.stop()
	dep := waitDeployment(t, e, quickstartProxy, func(d *appsv1.Deployment) bool { return container(d, "opa") != nil })
	proxy = proxyPod(t, e, quickstartProxy)
	opa := opaSidecar(t, proxy.pod, container(dep, "opa"), opaBin)
	// Step 4: the SecurityPolicy and the Backend, whose socket is the
	// folder of the pod's opa-unix-socket volume (/shared/opa in a pod).
	sock := proxy.pod.mounts["/shared/opa"] + "/opa.sock"
	manifest, err := os.ReadFile(kubetest.Root() + "/examples/opa-ext-authz/manifests/opa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	applyTemp(t, e, []byte(strings.Replace(string(manifest), "/tmp/portico-opa/opa.sock", sock, 1)), "default")

	// Step 5: the guide's requests.
	waitTraffic(t, "http://127.0.0.1:10080/get", "www.example.com", func(code int, _ string) bool { return code == 401 }, proxy)
	if code := bearer(t, "www.example.com", guideToken); code != http.StatusForbidden {
		t.Errorf("the guide's token (iss https://foo.bar.com, ALLOWED_ISS https://example.com): %d, want 403\n%s", code, opa.output())
	}
	if code := bearer(t, "open.example.com", ""); code != http.StatusOK {
		t.Errorf("the route without the label: %d, want 200", code)
	}
	waitSecurityPolicyAccepted(t, e)

	// The guide's fix: ALLOWED_ISS is the token's issuer. The deployment
	// changes; the opa container restarts with the new env.
	var ep egv1a1.EnvoyProxy
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: egNamespace, Name: "eg"}, &ep); err != nil {
		t.Fatal(err)
	}
	ep.Spec.Provider.Kubernetes.EnvoyDeployment.Patch.Value.Raw = []byte(strings.Replace(
		string(ep.Spec.Provider.Kubernetes.EnvoyDeployment.Patch.Value.Raw), "https://example.com", "https://foo.bar.com", 1))
	if err := e.Client.Update(ctx, &ep); err != nil {
		t.Fatal(err)
	}
	dep = waitDeployment(t, e, quickstartProxy, func(d *appsv1.Deployment) bool {
		c := container(d, "opa")
		return c != nil && envValue(c, "ALLOWED_ISS") == "https://foo.bar.com"
	})
	opa.stop()
	opa = opaSidecar(t, proxy.pod, container(dep, "opa"), opaBin)
	kubetest.Eventually(t, 30*time.Second, func() error {
		if code := bearer(t, "www.example.com", guideToken); code != http.StatusOK {
			return fmt.Errorf("the guide's token with ALLOWED_ISS https://foo.bar.com: %d, want 200\n%s", code, opa.output())
		}
		return nil
	})
	// The authorizer goes away: the route fails closed, the open one stays.
	opa.stop()
	if code := bearer(t, "www.example.com", guideToken); code != http.StatusForbidden {
		t.Errorf("authorizer down: %d, want 403", code)
	}
	if code := bearer(t, "open.example.com", ""); code != http.StatusOK {
		t.Errorf("authorizer down, the open route: %d, want 200", code)
	}
}

// buildOPA builds examples/opa-ext-authz, the sidecar's image here.
func buildOPA(t *testing.T) string {
	t.Helper()
	out := filepath.Join(filepath.Dir(bin), "opa")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	build := exec.Command("go", "build", "-o", out, "./examples/opa-ext-authz")
	build.Dir = kubetest.Root()
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the OPA example: %v\n%s", err, b)
	}
	return out
}

// opaSidecar starts the opa container of the proxy's pod.
func opaSidecar(t *testing.T, proxyPod *pod, c *corev1.Container, exe string) *process {
	t.Helper()
	env := map[string]string{}
	for _, v := range c.Env {
		env[v.Name] = v.Value
	}
	p := startProcess(t, exe, "opa", nil, c.Args, env, proxyPod.sidecar(t, c))
	waitHTTP(t, "http://127.0.0.1:8181/health", 30*time.Second, p)
	return p
}

// jwksServer serves the guide's JWKS (examples/opa-ext-authz/jwks.json) at
// addr, where the manifest's remoteJWKS points.
func jwksServer(t *testing.T, addr string) {
	t.Helper()
	body, err := os.ReadFile(kubetest.Root() + "/examples/opa-ext-authz/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }),
		ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func bearer(t *testing.T, host, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:10080/get", nil)
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitDeployment(t *testing.T, e *kubetest.Env, name string, ok func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var dep appsv1.Deployment
	kubetest.Eventually(t, 30*time.Second, func() error {
		if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: egNamespace, Name: name}, &dep); err != nil {
			return err
		}
		if !ok(&dep) {
			return fmt.Errorf("deployment %s not yet as wanted", name)
		}
		return nil
	})
	return &dep
}

func container(d *appsv1.Deployment, name string) *corev1.Container {
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	return nil
}

func envValue(c *corev1.Container, name string) string {
	for _, v := range c.Env {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

func waitSecurityPolicyAccepted(t *testing.T, e *kubetest.Env) {
	t.Helper()
	kubetest.Eventually(t, 20*time.Second, func() error {
		var sp egv1a1.SecurityPolicy
		if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: "opa-jwt-authz"}, &sp); err != nil {
			return err
		}
		if len(sp.Status.Ancestors) == 0 || !hasCondition(sp.Status.Ancestors[0].Conditions, "Accepted", metav1.ConditionTrue) {
			return fmt.Errorf("status %+v", sp.Status)
		}
		return nil
	})
}
