package kubernetes_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/internal/helmchart"
	"github.com/portico-gw/portico/internal/kubetest"
)

const egNamespace = "envoy-gateway-system"

// install is `helm install eg charts/portico -n envoy-gateway-system
// --create-namespace` on the test's API server: the chart's CRDs applied
// server-side, its certgen hook run (as `portico certgen` with the Job's
// command), its manifests applied. It returns the rendered chart.
func install(t *testing.T, e *kubetest.Env, values map[string]any) *helmchart.Rendered {
	t.Helper()
	r, err := helmchart.Render("eg", egNamespace, values)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range helmchart.Names(r.CRDs) {
		e.Apply(t, r.CRDs[name], "")
	}
	e.Namespace(t, egNamespace)
	job := renderedObject[batchv1.Job](t, r.Hooks["portico/templates/certgen.yaml"], "Job")
	c := job.Spec.Template.Spec.Containers[0]
	certgen := newProcess(t, "certgen", c.Command, c.Args, map[string]string{"ENVOY_GATEWAY_NAMESPACE": egNamespace}, nil)
	if err := certgen.wait(60 * time.Second); err != nil {
		t.Fatalf("certgen: %v\n%s", err, certgen.output())
	}
	for _, name := range helmchart.Names(r.Manifests) {
		e.Apply(t, []byte(r.Manifests[name]), egNamespace)
	}
	return r
}

// renderedObject decodes the document of the given kind from a rendered
// template.
func renderedObject[T any](t *testing.T, manifest, kind string) *T {
	t.Helper()
	objs, err := kubetest.Decode([]byte(manifest), egNamespace)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if u.GetKind() != kind {
			continue
		}
		b, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var out T
		if err := yaml.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return &out
	}
	t.Fatalf("no %s in %s", kind, manifest)
	return nil
}

// pod is a Deployment's pod as a local process: its volumes are folders,
// written again by sync (as the kubelet updates a mounted ConfigMap),
// paths under their mount paths are rewritten to them (a kubelet mounts
// them there), and $(VAR) references to its env are expanded.
type pod struct {
	dir    string
	mounts map[string]string // mount path -> folder
	e      *kubetest.Env
	ns     string
	spec   *corev1.PodSpec
	c      *corev1.Container
}

// newPod materializes the volumes of a pod template that come from
// Secrets and ConfigMaps (emptyDirs become empty folders).
func newPod(t *testing.T, e *kubetest.Env, ns string, spec *corev1.PodSpec, container *corev1.Container) *pod {
	t.Helper()
	p := &pod{dir: t.TempDir(), mounts: map[string]string{}, e: e, ns: ns, spec: spec, c: container}
	if err := p.sync(); err != nil {
		t.Fatal(err)
	}
	return p
}

// sidecar is another container of p's pod: the volumes both mount are the
// same folders, as a kubelet shares a pod's volumes between its containers.
func (p *pod) sidecar(t *testing.T, c *corev1.Container) *pod {
	t.Helper()
	q := &pod{dir: p.dir, mounts: map[string]string{}, e: p.e, ns: p.ns, spec: p.spec, c: c}
	if err := q.sync(); err != nil {
		t.Fatal(err)
	}
	return q
}

// sync writes the pod's Secret and ConfigMap volumes from the cluster,
// each file replaced by a rename (readers see the old or the new one).
func (p *pod) sync() error {
	e, ns, spec, container := p.e, p.ns, p.spec, p.c
	ctx := context.Background()
	for _, m := range container.VolumeMounts {
		p.mounts[m.MountPath] = filepath.Join(p.dir, m.Name)
	}
	for _, m := range container.VolumeMounts {
		var vol *corev1.Volume
		for i := range spec.Volumes {
			if spec.Volumes[i].Name == m.Name {
				vol = &spec.Volumes[i]
			}
		}
		if vol == nil {
			return fmt.Errorf("mount %s names no volume", m.Name)
		}
		dir := filepath.Join(p.dir, m.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		files := map[string][]byte{}
		switch {
		case vol.Secret != nil:
			var s corev1.Secret
			if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: vol.Secret.SecretName}, &s); err != nil {
				return fmt.Errorf("volume %s: %w", m.Name, err)
			}
			files = s.Data
		case vol.ConfigMap != nil:
			var cm corev1.ConfigMap
			if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: vol.ConfigMap.Name}, &cm); err != nil {
				return fmt.Errorf("volume %s: %w", m.Name, err)
			}
			for k, v := range cm.Data {
				files[k] = []byte(v)
			}
		}
		for name, data := range files {
			tmp := filepath.Join(dir, "."+name+".tmp")
			if err := os.WriteFile(tmp, []byte(p.rewriteFile(string(data))), 0o600); err != nil {
				return err
			}
			if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// rewriteFile maps mount paths inside a volume's file (the SDS files name
// the certificate files by their mount path).
func (p *pod) rewriteFile(s string) string {
	for mount, dir := range p.mounts {
		s = strings.ReplaceAll(s, mount+"/", dir+"/")
	}
	return s
}

// rewrite maps mount paths in an argument to the pod's folders.
func (p *pod) rewrite(s string) string {
	for mount, dir := range p.mounts {
		s = strings.ReplaceAll(s, mount+"/", dir+"/")
		if strings.HasSuffix(s, mount) && (s == mount || strings.HasSuffix(s, "="+mount)) {
			s = strings.TrimSuffix(s, mount) + dir
		}
	}
	return s
}

// process is a command the test started, with its output kept.
type process struct {
	name string
	pod  *pod // its volumes (nil: none)
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	err  error
}

// newProcess starts a container's command and args as a process (the
// image's /portico is the test's binary, its envoy a link to it), env
// expanded into $(VAR) references and paths mapped to the pod's volumes,
// and stops it when the test ends.
func newProcess(t *testing.T, name string, command, args []string, env map[string]string, p *pod) *process {
	t.Helper()
	exe := bin
	if len(command) > 0 && filepath.Base(command[0]) == "envoy" {
		exe = filepath.Join(filepath.Dir(bin), "envoy")
	}
	return startProcess(t, exe, name, command, args, env, p)
}

// startProcess runs exe as a container whose image's entry point it is.
func startProcess(t *testing.T, exe, name string, command, args []string, env map[string]string, p *pod) *process {
	t.Helper()
	var argv []string
	if len(command) > 1 {
		argv = append(argv, command[1:]...)
	}
	for _, a := range args {
		for k, v := range env {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		if p != nil {
			a = p.rewrite(a)
		}
		argv = append(argv, a)
	}
	pr := &process{name: name, pod: p, done: make(chan struct{})}
	pr.cmd = exec.Command(exe, argv...)
	pr.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig(t))
	for k, v := range env {
		pr.cmd.Env = append(pr.cmd.Env, k+"="+v)
	}
	pr.cmd.SysProcAttr = nil
	stdout, err := pr.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.cmd.Stderr = pr.cmd.Stdout
	if err := pr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			pr.mu.Lock()
			pr.out.WriteString(sc.Text() + "\n")
			pr.mu.Unlock()
			if testing.Verbose() {
				fmt.Fprintf(os.Stderr, "[%s] %s\n", name, sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		pr.err = pr.cmd.Wait()
		close(pr.done)
	}()
	t.Cleanup(func() { pr.stop() })
	return pr
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *process) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s still running after %s", p.name, d)
	}
}

// stop sends SIGTERM and waits (SIGKILL after 15 s).
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

var kubeconfigOnce sync.Once
var kubeconfigPath string

func kubeconfig(t *testing.T) string {
	kubeconfigOnce.Do(func() {
		f, err := os.CreateTemp("", "portico-kubeconfig-")
		if err != nil {
			t.Fatal(err)
		}
		f.Write(env.KubeConfig)
		f.Close()
		kubeconfigPath = f.Name()
	})
	return kubeconfigPath
}

// controlPlane starts `portico server` as the chart's Deployment runs it:
// its container args, with /config and /certs from the ConfigMap and the
// Secret the chart mounts.
func controlPlane(t *testing.T, e *kubetest.Env, r *helmchart.Rendered, extraArgs ...string) *process {
	t.Helper()
	dep := renderedObject[appsv1.Deployment](t, r.Manifests["portico/templates/envoy-gateway-deployment.yaml"], "Deployment")
	c := dep.Spec.Template.Spec.Containers[0]
	p := newPod(t, e, egNamespace, &dep.Spec.Template.Spec, &c)
	env := map[string]string{"ENVOY_GATEWAY_NAMESPACE": egNamespace}
	// The kubelet mounts the Secret at /certs and an emptyDir at the wasm
	// cache; here both are the pod's folders.
	args := append(append([]string(nil), c.Args...), "--certs-dir=/certs", "--wasm-cache-dir="+filepath.Join(p.dir, "wasm-cache"))
	// Each pod has a loopback of its own; here every pod shares the
	// test's, and the proxy pods take Envoy Gateway's admin (19000) and
	// stats (19001) ports from their bootstrap, so the control plane's
	// admin and metrics move aside.
	args = append(args, "--admin-address=127.0.0.1:19900", "--metrics-address=0.0.0.0:19901")
	args = append(args, extraArgs...)
	return newProcess(t, "envoy-gateway", c.Command, args, env, p)
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string, d time.Duration, proc *process) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-proc.done:
			t.Fatalf("%s exited: %v\n%s", proc.name, proc.err, proc.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s:\n%s", url, d, proc.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
