// Package kubernetes_test runs Portico as a cluster runs it, against a real
// kube-apiserver and etcd: the chart rendered and applied, `portico certgen`
// and `portico server` as processes with the chart's arguments, and each
// proxy Deployment's pod started as a local process from the Deployment's
// own container args (there is no kubelet), sending real traffic.
//
// Everything runs in a network namespace this test makes (root only), whose
// loopback also holds 192.0.2.1 (TEST-NET-1), where the backends listen: the API server refuses loopback EndpointSlice addresses. A private
// mount namespace maps the control plane's Service name to 127.0.0.1 in
// /etc/hosts, which is what cluster DNS would do.
package kubernetes_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/portico-gw/portico/internal/kubetest"
)

const (
	netnsEnv = "PORTICO_K8S_E2E_NETNS"
	// backendIP is where backends listen inside the namespace.
	backendIP = "192.0.2.1"
	// xdsHost is the control plane's Service as proxies resolve it.
	xdsHost = "envoy-gateway.envoy-gateway-system.svc.cluster.local"
)

// skipReason is why the tests cannot run here ("" when they can).
var skipReason string

// bin is the portico binary built for the test.
var bin string

var env *kubetest.Env

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" {
		os.Exit(reexecInNamespace(m))
	}
	os.Exit(runInNamespace(m))
}

// reexecInNamespace runs this test binary again in new network and mount
// namespaces; without the privilege to make them the tests skip.
func reexecInNamespace(m *testing.M) int {
	if missing := kubetest.Missing(); missing != "" {
		skipReason = missing
		return m.Run()
	}
	if os.Geteuid() != 0 {
		skipReason = "the Kubernetes end-to-end tests need root to make a network namespace (CI runs as root)"
		return m.Run()
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		skipReason = fmt.Sprintf("cannot make a network namespace: %v", err)
		return m.Run()
	}
	return 0
}

func runInNamespace(m *testing.M) int {
	// Helm's loader logs every linked CRD at info level.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := setupNamespace(); err != nil {
		fmt.Fprintln(os.Stderr, "network namespace:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "portico-k8s-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "portico")
	build := exec.Command("go", "build", "-o", bin, "./cmd/portico")
	build.Dir = kubetest.Root()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building portico:", err)
		return 1
	}
	// Portico's image links envoy to portico (hack/image.sh).
	if err := os.Symlink("portico", filepath.Join(dir, "envoy")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err = kubetest.StartEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	ctx, stopLoadBalancers := context.WithCancel(context.Background())
	defer stopLoadBalancers()
	go assignLoadBalancers(ctx, env)
	return m.Run()
}

// setupNamespace brings up loopback and the backends' address, and gives
// the control plane's Service name an /etc/hosts entry (in this mount
// namespace only).
func setupNamespace() error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		// On loopback: no dummy interface module needed, and the API
		// server judges the address, not the interface.
		{"addr", "add", backendIP + "/32", "dev", "lo"},
		// kube-apiserver picks its advertise address from the default
		// route; in this namespace nothing leaves it anyway.
		{"route", "add", "default", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v: %v: %s", args, err, out)
		}
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	hosts, err := os.CreateTemp("", "portico-hosts-")
	if err != nil {
		return err
	}
	fmt.Fprintf(hosts, "127.0.0.1 localhost\n::1 localhost\n127.0.0.1 %s\n", xdsHost)
	hosts.Close()
	if err := syscall.Mount(hosts.Name(), "/etc/hosts", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("mapping %s in /etc/hosts: %w", xdsHost, err)
	}
	return nil
}

func need(t *testing.T) *kubetest.Env {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	return env
}
