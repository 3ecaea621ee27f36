package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/wasm/oci"
	"github.com/portico-gw/portico/internal/wasm/oci/ocitest"
)

const pluginSHA = "79c9f85128bb0177b6511afa85d587224efded376ac0ef76df56595f1e6315c0"

func wasmCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append([]string{"wasm"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

// build, push (credentials from flags, stdin or the docker config file)
// and inspect from the registry, for every format; what inspect reads is
// what was built.
func TestWasmBuildPushInspect(t *testing.T) {
	reg := ocitest.New(t, "author", "pa55")
	layout := t.TempDir()
	dockerDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(reg.DockerConfig("author", "pa55")), 0o600); err != nil {
		t.Fatal(err)
	}
	plugin := "../../examples/wasm/plugin.wasm"
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials unless a step gives them
	for i, f := range oci.Formats {
		ref := reg.Host + "/wasm/plugin:" + string(f)
		out, err := wasmCmd(t, "", "build", plugin, "-t", ref, "--format", string(f), "--oci-layout", layout, "--root-id", "my_root_id")
		if err != nil {
			t.Fatalf("build %s: %v\n%s", f, err, out)
		}
		built := strings.Fields(strings.SplitN(out, "manifest digest ", 2)[1])[0]
		built = strings.TrimSuffix(built, ",")
		if _, err := wasmCmd(t, "", "push", ref, "--oci-layout", layout); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
			t.Fatalf("push without credentials: %v", err)
		}
		switch i {
		case 0:
			out, err = wasmCmd(t, "", "push", ref, "--oci-layout", layout, "-u", "author", "-p", "pa55")
		case 1:
			out, err = wasmCmd(t, "pa55\n", "push", ref, "--oci-layout", layout, "-u", "author", "--password-stdin")
		default:
			t.Setenv("DOCKER_CONFIG", dockerDir)
			out, err = wasmCmd(t, "", "push", ref, "--oci-layout", layout)
		}
		if err != nil || !strings.Contains(out, "@"+built) {
			t.Fatalf("push %s: %v\n%s", f, err, out)
		}
		out, err = wasmCmd(t, "", "inspect", ref, "--oci-layout", t.TempDir(), "-u", "author", "-p", "pa55", "--root-id", "my_root_id", "-o", "json")
		if err != nil {
			t.Fatalf("inspect %s: %v\n%s", f, err, out)
		}
		var in inspection
		if err := json.Unmarshal([]byte(out), &in); err != nil {
			t.Fatal(err)
		}
		if in.Source != "registry" || in.Format != f || in.ManifestDigest != built || in.ModuleSHA256 != pluginSHA ||
			!in.Runs || len(in.ABIVersions) != 1 || in.ABIVersions[0] != "0.2.1" || len(in.Imports) == 0 {
			t.Errorf("%s: %+v", f, in)
		}
	}
	out, err := wasmCmd(t, "", "inspect", reg.Host+"/wasm/plugin:docker", "--oci-layout", layout)
	if err != nil || !strings.Contains(out, "runs on Portico:  yes") || !strings.Contains(out, "format:           docker") {
		t.Errorf("text inspect: %v\n%s", err, out)
	}
}

// Inputs build refuses: a file that is not Wasm, a module without the
// proxy-wasm ABI, a bad reference or format; push of an image not built.
func TestWasmBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "plugin.wasm")
	_ = os.WriteFile(notWasm, []byte("<html>"), 0o644)
	noABI := filepath.Join(dir, "noabi.wasm")
	_ = os.WriteFile(noABI, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	plugin := "../../examples/wasm/plugin.wasm"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"build", notWasm, "-t", "r.local/p:v1"}, "not a Wasm binary"},
		{[]string{"build", noABI, "-t", "r.local/p:v1"}, "not a proxy-wasm module: it exports none of proxy_abi_version_0_2_1"},
		{[]string{"build", plugin}, "-t REF is required"},
		{[]string{"build", plugin, "-t", "r.local/P:v1"}, "could not parse url in image reference"},
		{[]string{"build", plugin, "-t", "r.local/p:v1", "--format", "zip"}, `unknown format "zip"`},
		{[]string{"push", "r.local/p:v9"}, "not in the OCI layout"},
	} {
		out, err := wasmCmd(t, "", append(c.args, "--oci-layout", dir+"/layout")...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v\n%s", c.args, err, out)
		}
	}
}

// x translate pulls images through the same store as portico run: the
// policy is Accepted and the listener's Wasm filter names the module's
// sha256; a wrong digest is the policy's status.
func TestTranslateImagePolicy(t *testing.T) {
	reg := ocitest.New(t, "", "")
	mod, err := os.ReadFile("../../examples/wasm/plugin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	img, err := oci.Build(mod, oci.FormatDocker, oci.RuntimeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	digest := reg.Push(t, "wasm/plugin:v1", img)
	dir := t.TempDir()
	policy := strings.Replace(readFile(t, "../../examples/wasm/image/wasm-image.yaml"), "127.0.0.1:5000", reg.Host, 1)
	_ = os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o644)
	out, _, err := translateCmd(t, "-n", "default", "-f", "../../examples/quickstart", "-f", dir, "--wasm-cache-dir", t.TempDir(),
		"--to", "gateway-api,xds", "-t", "listener", "--no-summary")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Policy has been accepted.") || !strings.Contains(out, pluginSHA) {
		t.Errorf("image policy not translated:\n%s", out)
	}
	bad := strings.Replace(policy, "plugin:v1\n", "plugin:v1\n          sha256: "+strings.Repeat("0a", 32)+"\n", 1)
	_ = os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(bad), 0o644)
	out, _, _ = translateCmd(t, "-n", "default", "-f", "../../examples/quickstart", "-f", dir, "--wasm-cache-dir", t.TempDir(), "--to", "gateway-api", "--no-summary")
	if !strings.Contains(out, "has checksum "+digest+", which does not match: "+strings.Repeat("0a", 32)) {
		t.Errorf("mismatch not reported:\n%s", out)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
