// Package kubetest starts a real kube-apiserver and etcd for tests, through
// controller-runtime's envtest, with Portico's CRDs installed.
//
// The binaries are found as envtest finds them: KUBEBUILDER_ASSETS (a
// folder holding kube-apiserver and etcd) or TEST_ASSET_KUBE_APISERVER and
// TEST_ASSET_ETCD. When neither is set, the folder hack/kube-apiserver.sh
// builds into is used if it holds both. Without the binaries a test is
// skipped with a message naming what is missing and how to build it; CI
// (.ci/run) builds them, so there they always run.
package kubetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/freeport"
)

// Version is the Kubernetes release the binaries are built from.
const Version = "v1.37.2"

// Env is a running API server.
type Env struct {
	*envtest.Environment
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an administrator's client with Portico's scheme.
	Client client.Client

	certDir string
}

// Root is the repository's root folder.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CRDDirs are the folders of the CRDs the chart installs.
func CRDDirs() []string {
	return []string{filepath.Join(Root(), "config", "crd", "gateway-api"), filepath.Join(Root(), "config", "crd", "portico")}
}

// Missing names the binaries envtest would not find ("" when it would).
// As a side effect it points KUBEBUILDER_ASSETS at the build cache when
// nothing else is set and the cache holds both binaries.
func Missing() string {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" && os.Getenv("TEST_ASSET_KUBE_APISERVER") == "" {
		cache := os.Getenv("PORTICO_CACHE")
		if cache == "" {
			if home, err := os.UserHomeDir(); err == nil {
				cache = filepath.Join(home, ".cache", "portico")
			}
		}
		dir := filepath.Join(cache, "kube-apiserver-"+Version)
		if isFile(filepath.Join(dir, "kube-apiserver")) && isFile(filepath.Join(dir, "etcd")) {
			os.Setenv("KUBEBUILDER_ASSETS", dir)
		}
	}
	var missing string
	for _, bin := range []struct{ name, env string }{{"kube-apiserver", "TEST_ASSET_KUBE_APISERVER"}, {"etcd", "TEST_ASSET_ETCD"}} {
		path := os.Getenv(bin.env)
		if path == "" && os.Getenv("KUBEBUILDER_ASSETS") != "" {
			path = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), bin.name)
		}
		if path == "" || !isFile(path) {
			if missing != "" {
				missing += " and "
			}
			missing += bin.name
		}
	}
	if missing == "" {
		return ""
	}
	return fmt.Sprintf("%s not found (set KUBEBUILDER_ASSETS, or run `bash hack/kube-apiserver.sh` to build kube-apiserver %s and etcd)", missing, Version)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Start starts an API server with the CRDs installed, stopped when the test
// ends; it skips the test when the binaries are missing.
func Start(t testing.TB) *Env {
	t.Helper()
	env, err := StartEnv()
	if err == errMissing {
		t.Skip(Missing())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the API server: %v", err)
		}
	})
	return env
}

var errMissing = fmt.Errorf("envtest binaries missing")

// StartEnv is Start for TestMain (the caller stops it); it returns
// errMissing-wrapped when the binaries are missing (see Skipped).
func StartEnv() (*Env, error) {
	if Missing() != "" {
		return nil, errMissing
	}
	var e *envtest.Environment
	var cfg *rest.Config
	var certDir string
	// envtest retries a failed start on the same ports, so a port taken
	// meanwhile fails all its tries at once: each try here has new ones,
	// and a new certificate folder (the API server makes no CA for a
	// folder that already holds certificates).
	for try := 1; ; try++ {
		var err error
		if certDir, err = os.MkdirTemp("", "portico-apiserver-"); err != nil {
			return nil, err
		}
		if e, err = environment(certDir); err == nil {
			cfg, err = e.Start()
		}
		if err == nil {
			break
		}
		fmt.Fprintf(os.Stderr, "kubetest: starting kube-apiserver and etcd, try %d: %v\n", try, err)
		if e != nil {
			_ = e.Stop() // what did start (etcd, say) must not outlive the try
		}
		os.RemoveAll(certDir)
		if try == 3 {
			if live.Load() == 0 {
				reapStrays()
			}
			return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
		}
	}
	scheme := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, gwapiv1.Install, egv1a1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	live.Add(1)
	return &Env{Environment: e, Config: cfg, Client: c, certDir: certDir}, nil
}

// environment is an API server and etcd on ports from below the kernel's
// ephemeral range: envtest's own choice (listen on port 0, close) could be
// taken by an outgoing connection before etcd bound it, and under a full
// parallel test run it was (etcd "stopped unexpectedly before becoming
// ready", five times on the same port).
//
// The certificate folder is ours, not envtest's: it survives a restart of
// the API server (RestartAPIServer), where envtest's own is deleted on stop
// and a new serving certificate would not match the clients' CA.
func environment(certDir string) (*envtest.Environment, error) {
	var ports [3]string
	for i := range ports {
		p, err := freeport.Get()
		if err != nil {
			return nil, err
		}
		ports[i] = strconv.Itoa(p)
	}
	e := &envtest.Environment{CRDDirectoryPaths: CRDDirs(), ErrorIfCRDPathMissing: true}
	e.ControlPlane.Etcd = &envtest.Etcd{URL: &url.URL{Scheme: "http", Host: "127.0.0.1:" + ports[0]}}
	e.ControlPlane.Etcd.Configure().Set("listen-peer-urls", "http://127.0.0.1:"+ports[1])
	as := &envtest.APIServer{CertDir: certDir}
	as.SecureServing.Address, as.SecureServing.Port = "127.0.0.1", ports[2]
	if os.Getenv("PORTICO_KUBETEST_LOG") != "" { // the API server's own log, to debug a start
		as.Out, as.Err = os.Stderr, os.Stderr
	}
	e.ControlPlane.APIServer = as
	return e, nil
}

// Stop stops the API server and etcd; the last environment to stop also
// kills what envtest left running (reapStrays).
func (e *Env) Stop() error {
	err := e.Environment.Stop()
	os.RemoveAll(e.certDir)
	if live.Add(-1) == 0 {
		reapStrays()
	}
	return err
}

// RestartAPIServer stops kube-apiserver, waits down, and starts it again on
// the same port with the same certificates (etcd keeps running, so nothing
// stored is lost).
func (e *Env) RestartAPIServer(down time.Duration) error {
	as := e.ControlPlane.GetAPIServer()
	if err := as.Stop(); err != nil {
		return err
	}
	time.Sleep(down)
	return as.Start()
}

// shared is the API server Main started for its package (nil: missing).
var shared *Env

// Main starts one API server for a test package, runs its tests and stops
// it; call it from TestMain. Without the binaries the tests run and Need
// skips them.
func Main(m *testing.M) {
	var err error
	shared, err = StartEnv()
	if err != nil && !IsMissing(err) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if shared != nil {
		_ = shared.Stop()
	}
	os.Exit(code)
}

// Need returns the API server Main started, or skips the test naming what
// is missing.
func Need(t testing.TB) *Env {
	t.Helper()
	if shared == nil {
		t.Skip(Missing())
	}
	return shared
}

// IsMissing reports whether StartEnv failed for want of the binaries.
func IsMissing(err error) bool { return err == errMissing }

// Namespace creates a namespace (ignoring one that exists).
func (e *Env) Namespace(t testing.TB, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// Eventually polls cond every 20 ms until it returns nil or timeout passes,
// then fails the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
