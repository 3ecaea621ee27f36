package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// translate runs `portico x translate args...` and returns stdout, stderr
// and the error the command ends with.
func translateCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"x", "translate"}, args...))
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// The summary goes to stderr after the document, which stays on stdout as
// egctl prints it.
func TestTranslateSummaryOnStderr(t *testing.T) {
	out, errOut, err := translateCmd(t, "-f", "../../examples/quickstart", "-n", "default", "--to", "gateway-api")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "summary:") || !strings.HasPrefix(out, "gatewayClass:") {
		t.Fatalf("stdout is not egctl's document:\n%s", out)
	}
	for _, want := range []string{"summary: 3 object(s) translated", "HTTPRoute                1 accepted",
		"read, without a status of their own: Service 1"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if _, errOut, _ = translateCmd(t, "-f", "../../examples/quickstart", "--no-summary"); strings.Contains(errOut, "summary:") {
		t.Errorf("--no-summary printed one:\n%s", errOut)
	}
}

// An extension hook that fails without failOpen makes x translate exit
// non-zero (after printing what it could), so a script notices.
func TestTranslateFailsWhenAnExtensionHookFails(t *testing.T) {
	data, err := os.ReadFile("../../examples/extension-server/envoy-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "envoy-gateway.yaml")
	nobody := filepath.Join(t.TempDir(), "nobody.sock")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), "/tmp/portico-extension-server.sock", nobody, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := translateCmd(t, "--config", cfg, "-f", "../../examples/extension-server/example.yaml", "--to", "gateway-api,xds")
	if err == nil || !strings.Contains(err.Error(), "extension hook") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out, "gateways:") || !strings.Contains(errOut, "extension hooks that failed (failOpen: false):") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// egctl's --add-missing-resources is accepted and gives a Service without
// a cluster IP the address 1.2.3.4.
func TestTranslateAddMissingResources(t *testing.T) {
	out, _, err := translateCmd(t, "-f", "../../examples/quickstart", "--add-missing-resources", "-t", "endpoint")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "address: 1.2.3.4") {
		t.Fatalf("no 1.2.3.4 endpoint:\n%s", out)
	}
}
