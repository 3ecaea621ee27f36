package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// realRegistry is Debian's docker-registry (the distribution project's
// reference registry) on loopback, with htpasswd authentication.
type realRegistry struct {
	host, config string
	cmd          *exec.Cmd
}

func needTool(t *testing.T, tool, why string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s is not installed (.ci/run installs it): %s", tool, why)
	}
	return p
}

func startRealRegistry(t *testing.T, user, password string) *realRegistry {
	t.Helper()
	needTool(t, "docker-registry", "the reference registry")
	htpasswd := needTool(t, "htpasswd", "apache2-utils makes the registry's password file")
	dir := t.TempDir()
	out, err := exec.Command(htpasswd, "-Bbn", user, password).Output()
	if err != nil {
		t.Fatalf("htpasswd: %v", err)
	}
	writeFile(t, filepath.Join(dir, "htpasswd"), string(out))
	r := &realRegistry{host: fmt.Sprintf("127.0.0.1:%d", freePort(t)), config: filepath.Join(dir, "config.yml")}
	writeFile(t, r.config, fmt.Sprintf(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http:
  addr: %s
auth:
  htpasswd: {realm: portico-e2e, path: %s}
`, filepath.Join(dir, "data"), r.host, filepath.Join(dir, "htpasswd")))
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *realRegistry) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("docker-registry", "serve", r.config)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not start on %s: %v", r.host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *realRegistry) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// porticoBinary builds cmd/portico once per test binary.
var porticoBin struct {
	path string
	err  error
	done bool
}

func buildPortico(t *testing.T) string {
	t.Helper()
	if !porticoBin.done {
		porticoBin.done = true
		dir, err := os.MkdirTemp("", "portico-e2e-bin-")
		if err == nil {
			porticoBin.path = filepath.Join(dir, "portico")
			out, berr := exec.Command("go", "build", "-o", porticoBin.path, "../../cmd/portico").CombinedOutput()
			if berr != nil {
				err = fmt.Errorf("%v\n%s", berr, out)
			}
		}
		porticoBin.err = err
	}
	if porticoBin.err != nil {
		t.Fatalf("building portico: %v", porticoBin.err)
	}
	return porticoBin.path
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestWasmImageRealRegistry: images made by `portico wasm build/push` (all
// three formats) and, when buildah is installed, by the guide's own
// buildah recipe and its Dockerfile (buildah bud), pushed to the reference
// registry with htpasswd authentication, serve traffic through the
// built-in proxy with a pull secret; without the secret, or with a wrong
// password, the cached module is refused; the registry stopping and
// starting again changes nothing for the policies that had their module.
func TestWasmImageRealRegistry(t *testing.T) {
	const user, password = "wasm", "s3cret-Real"
	reg := startRealRegistry(t, user, password)
	portico := buildPortico(t)
	work := t.TempDir()
	mod := corpusPlugin(t)
	writeFile(t, filepath.Join(work, "plugin.wasm"), string(mod))
	layout := filepath.Join(work, "layout")
	images := map[string]string{} // route -> image URL
	for _, f := range []string{"docker", "oci", "artifact"} {
		ref := reg.host + "/portico/" + f + ":0.1.0"
		run(t, work, portico, "wasm", "build", "plugin.wasm", "-t", ref, "--format", f, "--oci-layout", layout)
		run(t, work, portico, "wasm", "push", ref, "--oci-layout", layout, "-u", user, "-p", password)
		images["portico-"+f] = ref
	}
	if _, err := exec.LookPath("buildah"); err == nil {
		buildahImages(t, work, reg.host, user+":"+password, images)
	} else {
		t.Log("buildah is not installed (.ci/run installs it): the guide's buildah and Dockerfile recipes are not run")
	}
	inspect := run(t, work, portico, "wasm", "inspect", images["portico-docker"], "--oci-layout", filepath.Join(work, "none"),
		"-u", user, "-p", password, "--root-id", "my_root_id")
	if !strings.Contains(inspect, "runs on Portico:  yes") || !strings.Contains(inspect, "source:           registry") {
		t.Errorf("inspect:\n%s", inspect)
	}

	bp := backend(t, "one")
	gw := freePort(t)
	files := map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   routeYAML("backend", bp),
		"secret.yaml":  pullSecret("my-pull-secret", fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, reg.host, user, password)),
		"wrong.yaml":   pullSecret("wrong-secret", fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":"nope"}}}`, reg.host, user)),
	}
	for route, url := range images {
		files[route+"-route.yaml"] = namedRouteYAML(route, route+".example.com", "backend", bp)
		files[route+"-policy.yaml"] = imagePolicy(route, route, url, "", "my-pull-secret", "")
	}
	wrongDigest := strings.Repeat("ab", 32)
	files["mismatch-route.yaml"] = namedRouteYAML("mismatch", "mismatch.example.com", "backend", bp)
	files["mismatch-policy.yaml"] = imagePolicy("mismatch", "mismatch", images["portico-oci"], wrongDigest, "my-pull-secret", "")
	e := startWithOptions(t, nil, files, gw, fastFetch)
	for route := range images {
		e.expectFOO(route + ".example.com")
	}
	if c := e.policyCondition("mismatch"); c.Status != "False" || !strings.HasPrefix(c.Message, "Wasm: Module downloaded from oci://"+images["portico-oci"]+" has checksum ") ||
		!strings.HasSuffix(c.Message, ", which does not match: "+wrongDigest+".") {
		t.Errorf("a digest that does not match: %+v", c)
	}
	for _, c := range []struct{ name, secret string }{{"nosecret", ""}, {"wrongpw", "wrong-secret"}} {
		writeFile(t, filepath.Join(e.dir, c.name+"-route.yaml"), namedRouteYAML(c.name, c.name+".example.com", "backend", bp))
		writeFile(t, filepath.Join(e.dir, c.name+".yaml"), imagePolicy(c.name, c.name, images["portico-docker"], "", c.secret, ""))
		e.eventually(c.name+" refused by the registry", func() bool {
			cond := e.policyCondition(c.name)
			return cond.Status == "False" && strings.Contains(cond.Message, "UNAUTHORIZED: authentication required")
		})
		e.eventually("the proxy serves the refused policy's route", e.proxiesSynced)
		if code, _ := e.header(c.name+".example.com", "/", "x-wasm-custom"); code != http.StatusInternalServerError {
			t.Errorf("%s: %d, want 500", c.name, code)
		}
	}
	reg.stop()
	writeFile(t, filepath.Join(e.dir, "touch.yaml"), namedRouteYAML("touch", "touch.example.com", "backend", bp))
	e.eventually("a translation while the registry is down", func() bool {
		code, _ := e.header("touch.example.com", "/", "x-wasm-custom")
		return code == http.StatusOK
	})
	for route := range images {
		if code, v := e.header(route+".example.com", "/", "x-wasm-custom"); code != http.StatusOK || v != "FOO" {
			t.Errorf("registry down: %s answered %d %q", route, code, v)
		}
	}
	reg.start(t)
	writeFile(t, filepath.Join(e.dir, "late-route.yaml"), namedRouteYAML("late", "late.example.com", "backend", bp))
	writeFile(t, filepath.Join(e.dir, "late.yaml"), imagePolicy("late", "late", images["portico-oci"], "", "my-pull-secret", ""))
	e.expectFOO("late.example.com")
}

// buildahImages runs the guide's two recipes with buildah (vfs storage
// under work) and pushes to host: the OCI recipe (from scratch, copy,
// commit) and the Docker one (its one-COPY Dockerfile, built in Docker
// format as docker build would). skopeo, when present, confirms the
// formats.
func buildahImages(t *testing.T, work, host, creds string, images map[string]string) {
	t.Helper()
	storage := []string{"--storage-driver", "vfs", "--root", filepath.Join(work, "storage"), "--runroot", filepath.Join(work, "run")}
	buildah := func(args ...string) string {
		return run(t, work, "buildah", append(append([]string{}, storage...), args...)...)
	}
	buildah("--name", "mywasm", "from", "scratch")
	buildah("copy", "mywasm", "plugin.wasm", "./")
	buildah("commit", "--creds", creds, "--tls-verify=false", "mywasm", "docker://"+host+"/mywasm:0.1.0")
	images["buildah-oci"] = host + "/mywasm:0.1.0"
	writeFile(t, filepath.Join(work, "Dockerfile"), "FROM scratch\nCOPY plugin.wasm ./\n")
	buildah("bud", "--format", "docker", "-t", host+"/mywasm-docker:0.1.0", ".")
	buildah("push", "--creds", creds, "--tls-verify=false", host+"/mywasm-docker:0.1.0")
	images["buildah-docker"] = host + "/mywasm-docker:0.1.0"
	if _, err := exec.LookPath("skopeo"); err != nil {
		return
	}
	for image, mt := range map[string]string{"mywasm:0.1.0": "application/vnd.oci.image.manifest.v1+json",
		"mywasm-docker:0.1.0": "application/vnd.docker.distribution.manifest.v2+json"} {
		raw := run(t, work, "skopeo", "inspect", "--raw", "--creds", creds, "--tls-verify=false", "docker://"+host+"/"+image)
		if !strings.Contains(raw, `"mediaType":"`+mt+`"`) && !strings.Contains(raw, `"mediaType": "`+mt+`"`) {
			t.Errorf("%s is not %s:\n%s", image, mt, raw)
		}
	}
}
