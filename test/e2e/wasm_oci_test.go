package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/portico-gw/portico/internal/runner"
	"github.com/portico-gw/portico/internal/wasm/oci"
	"github.com/portico-gw/portico/internal/wasm/oci/ocitest"
)

// imagePolicy is the guide's Image EnvoyExtensionPolicy (rootID
// my_root_id) on one route.
func imagePolicy(name, route, url, sum, secret, extra string) string {
	return extensionPolicy(name, route, "my_root_id", "Image", url, sum, secret) + extra
}

func pullSecret(name, dockerConfig string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: default\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: %s\n",
		name, base64.StdEncoding.EncodeToString([]byte(dockerConfig)))
}

func corpusPlugin(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "wasm", "plugin.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wasmImage(t *testing.T, mod []byte, f oci.Format) v1.Image {
	t.Helper()
	img, err := oci.Build(mod, f, oci.RuntimeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// expectFOO waits until host's responses carry the corpus plugin's header.
func (e *env) expectFOO(host string) {
	e.t.Helper()
	e.eventually("x-wasm-custom: FOO on "+host, func() bool {
		code, v := e.header(host, "/", "x-wasm-custom")
		return code == http.StatusOK && v == "FOO"
	})
}

// TestWasmImageGuideExample: the guide's Image policy with images in
// every format (and an index) in a registry with basic auth, pulled with
// a pull secret; policies without the secret or with a wrong password
// fail although the module is cached, and the secret appears nowhere; a
// registry that goes down keeps the modules serving and an image asked
// for meanwhile arrives when it comes back, without an edit.
func TestWasmImageGuideExample(t *testing.T) {
	mod := corpusPlugin(t)
	reg := ocitest.New(t, "wasm", "s3cret-pw")
	digests := map[oci.Format]string{}
	for _, f := range oci.Formats {
		digests[f] = reg.Push(t, "wasm/plugin:"+string(f), wasmImage(t, mod, f))
	}
	reg.PushIndex(t, "wasm/plugin:index", mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: wasmImage(t, mod, oci.FormatOCI), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}}))
	reg.Push(t, "wasm/plugin:late", wasmImage(t, mod, oci.FormatDocker))
	bp := backend(t, "one")
	gw := freePort(t)
	files := map[string]string{
		"gateway.yaml":    gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":      routeYAML("backend", bp),
		"secret.yaml":     pullSecret("my-pull-secret", reg.DockerConfig("wasm", "s3cret-pw")),
		"wrong.yaml":      pullSecret("wrong-secret", reg.DockerConfig("wasm", "guess")),
		"mismatch.yaml":   imagePolicy("mismatch", "mismatch", reg.Host+"/wasm/plugin:docker", digests[oci.FormatOCI], "my-pull-secret", ""),
		"mismatch-r.yaml": namedRouteYAML("mismatch", "mismatch.example.com", "backend", bp),
	}
	url := func(tag string) string { return reg.Host + "/wasm/plugin:" + tag }
	good := map[string]string{ // route -> policy
		"docker":   imagePolicy("docker", "docker", url("docker"), digests[oci.FormatDocker], "my-pull-secret", ""),
		"oci":      imagePolicy("oci", "oci", "oci://"+url("oci"), "", "my-pull-secret", "        pullPolicy: IfNotPresent\n"),
		"artifact": imagePolicy("artifact", "artifact", reg.Host+"/wasm/plugin@sha256:"+digests[oci.FormatArtifact], "", "my-pull-secret", ""),
		"index":    imagePolicy("index", "index", url("index"), "", "my-pull-secret", ""),
	}
	for name, p := range good {
		files[name+"-route.yaml"] = namedRouteYAML(name, name+".example.com", "backend", bp)
		files[name+"-policy.yaml"] = p
	}
	logs := &lockedBuffer{}
	e := startWithOptions(t, nil, files, gw, func(o *runner.Options) {
		fastFetch(o)
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	for name := range good {
		e.expectFOO(name + ".example.com")
		if c := e.policyCondition(name); c.Status != "True" {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if c := e.policyCondition("mismatch"); c.Status != "False" || c.Message != fmt.Sprintf("Wasm: Module downloaded from oci://%s has checksum %s, which does not match: %s.",
		url("docker"), digests[oci.FormatDocker], digests[oci.FormatOCI]) {
		t.Errorf("mismatch: %+v", c)
	}

	refusedThoughCached(e, reg, bp, digests[oci.FormatDocker], logs)

	// The registry goes down: what was pulled keeps serving; an image
	// asked for meanwhile fails, then arrives when the registry is back.
	reg.Stop()
	writeFile(t, filepath.Join(e.dir, "late-route.yaml"), namedRouteYAML("late", "late.example.com", "backend", bp))
	writeFile(t, filepath.Join(e.dir, "late.yaml"), imagePolicy("late", "late", url("late"), "", "my-pull-secret", ""))
	e.eventually("the late policy's failure", func() bool {
		c := e.policyCondition("late")
		return c.Status == "False" && strings.Contains(c.Message, "connection refused")
	})
	for name := range good {
		if code, v := e.header(name+".example.com", "/", "x-wasm-custom"); code != http.StatusOK || v != "FOO" {
			t.Errorf("registry down: %s answered %d %q", name, code, v)
		}
	}
	reg.Start(t)
	e.expectFOO("late.example.com")
	if c := e.policyCondition("late"); c.Status != "True" {
		t.Errorf("late after the registry came back: %+v", c)
	}
}

// refusedThoughCached adds policies naming the cached docker image without
// the secret and with a wrong password: the registry's refusal is their
// status, their routes answer 500, and no credential shows in /status,
// /config_dump or the log.
func refusedThoughCached(e *env, reg *ocitest.Registry, bp int, digest string, logs *lockedBuffer) {
	t := e.t
	t.Helper()
	url := reg.Host + "/wasm/plugin:docker"
	// The module is cached now; a policy without the secret, or with a
	// wrong password, still gets the registry's refusal.
	writeFile(t, filepath.Join(e.dir, "nosecret-route.yaml"), namedRouteYAML("nosecret", "nosecret.example.com", "backend", bp))
	writeFile(t, filepath.Join(e.dir, "nosecret.yaml"), imagePolicy("nosecret", "nosecret", url, digest, "", ""))
	writeFile(t, filepath.Join(e.dir, "wrongpw-route.yaml"), namedRouteYAML("wrongpw", "wrongpw.example.com", "backend", bp))
	writeFile(t, filepath.Join(e.dir, "wrongpw.yaml"), imagePolicy("wrongpw", "wrongpw", url, digest, "wrong-secret", ""))
	for _, name := range []string{"nosecret", "wrongpw"} {
		e.eventually(name+" refused", func() bool {
			c := e.policyCondition(name)
			return c.Status == "False" && strings.Contains(c.Message, "UNAUTHORIZED: authentication required") &&
				strings.HasPrefix(c.Message, "Wasm: Failed to login to private registry: could not fetch manifest: GET http://"+reg.Host+"/v2/wasm/plugin/manifests/docker: UNAUTHORIZED: authentication required")
		})
		if code, v := e.header(name+".example.com", "/", "x-wasm-custom"); code != http.StatusInternalServerError || v != "" {
			t.Errorf("%s: route answered %d %q, want 500", name, code, v)
		}
	}
	e.expectFOO("docker.example.com")
	for _, path := range []string{"/status", "/config_dump", "log"} {
		var b []byte
		if path == "log" {
			b = logs.Bytes()
		} else {
			_, b = e.admin(path)
		}
		for _, secret := range []string{"s3cret-pw", base64.StdEncoding.EncodeToString([]byte("wasm:s3cret-pw")), "guess"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s shows a credential", path)
			}
		}
	}
	if !bytes.Contains(logs.Bytes(), []byte("UNAUTHORIZED")) {
		t.Error("the log should say why the policies without credentials failed")
	}
}

func layeredImage(t *testing.T, mt types.MediaType, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, mt), layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestWasmImageBadInputs gives each bad image or registry its own policy
// and route: each policy says precisely why, its route answers 500, and a
// good policy keeps serving.
func TestWasmImageBadInputs(t *testing.T) {
	mod := corpusPlugin(t)
	reg := ocitest.New(t, "", "")
	down500 := ocitest.New(t, "", "")
	down500.SetMode(ocitest.Fail500)
	hang := ocitest.New(t, "", "")
	hang.SetMode(ocitest.Hang)
	good := reg.Push(t, "wasm/good:v1", wasmImage(t, mod, oci.FormatDocker))
	reg.Push(t, "wasm/noplugin:v1", layeredImage(t, types.OCIManifestSchema1, static.NewLayer(ocitest.TarGz(map[string][]byte{"filter.wasm": mod}), types.OCILayer)))
	reg.Push(t, "wasm/wrongtypes:v1", layeredImage(t, types.OCIManifestSchema1, static.NewLayer([]byte("{}"), "application/json"), static.NewLayer(mod, "application/octet-stream")))
	reg.Push(t, "wasm/bomb:v1", layeredImage(t, types.DockerManifestSchema2, static.NewLayer(ocitest.TarGz(map[string][]byte{"filler": make([]byte, 64<<20)}), types.DockerLayer)))
	reg.PushIndex(t, "wasm/list:v1", mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: wasmImage(t, mod, oci.FormatOCI), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: wasmImage(t, mod, oci.FormatDocker), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "windows", Architecture: "amd64"}}}))
	moved := reg.Push(t, "wasm/moving:v1", wasmImage(t, mod, oci.FormatDocker))
	now := reg.Push(t, "wasm/moving:v1", wasmImage(t, mod, oci.FormatOCI))
	bp := backend(t, "one")
	gw := freePort(t)
	files := map[string]string{
		"gateway.yaml":     gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":       routeYAML("backend", bp),
		"good-route.yaml":  namedRouteYAML("good", "good.example.com", "backend", bp),
		"good-policy.yaml": imagePolicy("good", "good", reg.Host+"/wasm/good:v1", good, "", ""),
	}
	u := func(host, repo string) string { return "oci://" + host + "/" + repo }
	cases := []struct{ name, url, sum, message string }{
		{"noplugin", u(reg.Host, "wasm/noplugin:v1"), "", "Wasm: Could not fetch Wasm binary: the given image is in invalid format as an OCI image: could not parse as compat variant: " +
			"could not extract wasm binary: plugin.wasm not found in the archive; could not parse as oci variant: number of layers must be 2 but got 1."},
		{"wrongtypes", u(reg.Host, "wasm/wrongtypes:v1"), "", "Wasm: Could not fetch Wasm binary: the given image is in invalid format as an OCI image: could not parse as compat variant: " +
			"invalid media type application/octet-stream (expect application/vnd.oci.image.layer.v1.tar+gzip); could not parse as oci variant: could not find the layer of type application/vnd.module.wasm.content.layer.v1+wasm."},
		{"bomb", u(reg.Host, "wasm/bomb:v1"), "", "Wasm: Could not fetch Wasm binary: could not extract Wasm file from the image as Docker container: could not extract wasm binary: " +
			"the layer expands to more than the limit of 8388608 bytes: too large."},
		{"list", u(reg.Host, "wasm/list:v1"), "", "Wasm: Could not fetch Wasm OCI image: the image index has no linux/amd64 image and 2 image entries, so none can be chosen: " +
			"application/vnd.oci.image.manifest.v1+json (linux/arm64), application/vnd.docker.distribution.manifest.v2+json (windows/amd64)."},
		{"notfound", u(reg.Host, "wasm/good:v2"), "", "Wasm: Could not fetch Wasm OCI image: could not fetch manifest: GET http://" + reg.Host + "/v2/wasm/good/manifests/v2: MANIFEST_UNKNOWN: Unknown manifest."},
		{"fail500", u(down500.Host, "wasm/good:v1"), "", "500 Internal Server Error"},
		{"hang", u(hang.Host, "wasm/good:v1"), "", "timeout awaiting response headers"},
		{"moving", u(reg.Host, "wasm/moving:v1"), moved, fmt.Sprintf("Wasm: Module downloaded from %s has checksum %s, which does not match: %s.", u(reg.Host, "wasm/moving:v1"), now, moved)},
	}
	for _, c := range cases {
		files[c.name+"-route.yaml"] = namedRouteYAML(c.name, c.name+".example.com", "backend", bp)
		files[c.name+"-policy.yaml"] = imagePolicy(c.name, c.name, c.url, c.sum, "", "")
	}
	e := startWithOptions(t, nil, files, gw, fastFetch)
	e.expectFOO("good.example.com")
	for _, c := range cases {
		var cond condition
		e.eventually(c.name+"'s status", func() bool {
			cond = e.policyCondition(c.name)
			return cond.Status == "False" && !strings.Contains(cond.Message, "still being downloaded")
		})
		if cond.Reason != "Invalid" || (cond.Message != c.message && !(strings.HasPrefix(c.message, "500") || strings.HasPrefix(c.message, "timeout")) ||
			!strings.Contains(cond.Message, c.message)) {
			t.Errorf("%s: %+v\nwant %s", c.name, cond, c.message)
		}
		if code, v := e.header(c.name+".example.com", "/", "x-wasm-custom"); code != http.StatusInternalServerError || v != "" {
			t.Errorf("%s: route answered %d %q, want 500", c.name, code, v)
		}
	}
	if code, v := e.header("good.example.com", "/", "x-wasm-custom"); code != http.StatusOK || v != "FOO" {
		t.Errorf("the good policy after the bad ones: %d %q", code, v)
	}
	if code, _, _ := e.get("/"); code != http.StatusOK {
		t.Errorf("a route without Wasm: %d", code)
	}
}

// lockedBuffer collects a log written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}
