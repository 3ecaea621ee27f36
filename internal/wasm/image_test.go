package wasm

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/wasm/oci"
	"github.com/portico-gw/portico/internal/wasm/oci/ocitest"
)

// imageStoreTB is imageStore for benchmarks.
func imageStoreTB(t testing.TB, dir string) *Store { return imageStore(t, dir, StoreOptions{}) }

// imageStore is a store over dir with test-sized limits.
func imageStore(t testing.TB, dir string, o StoreOptions) *Store {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if o.Cache == nil {
		o.Cache = &Cache{Dir: dir}
	}
	o.Fetcher = Fetcher{Attempts: 1, Timeout: 500 * time.Millisecond, Total: 3 * time.Second, BackoffBase: time.Millisecond, MaxSize: 4 << 20}
	o.ServingBase = "http://wasm.test"
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := NewStore(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// outcome fetches one code and returns its module or error text.
func outcome(t *testing.T, s *Store, c gatewayapi.WasmCode) (gatewayapi.WasmModule, string) {
	t.Helper()
	s.Ensure([]gatewayapi.WasmCode{c})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Wait(ctx, []gatewayapi.WasmCode{c})
	m, err := s.Snapshot().WasmModule(c)
	if err != nil {
		return m, err.Error()
	}
	return m, ""
}

func served(t *testing.T, s *Store, m gatewayapi.WasmModule) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, strings.TrimPrefix(m.ServingURL, "http://wasm.test"), nil))
	return rec.Body.Bytes()
}

// Every format pulls, is served with the module's sha256, and a second
// store over the same cache (a restart) fetches only the manifest.
func TestImageFormatsAndCache(t *testing.T) {
	mod := plugin(t)
	reg := ocitest.New(t, "", "")
	dir := t.TempDir()
	s := imageStore(t, dir, StoreOptions{})
	digests := map[oci.Format]string{}
	for _, f := range oci.Formats {
		img, err := oci.Build(mod, f, oci.RuntimeConfig{})
		if err != nil {
			t.Fatal(err)
		}
		digest := reg.Push(t, "wasm/"+string(f)+":v1", img)
		digests[f] = digest
		for _, c := range []gatewayapi.WasmCode{
			{URL: "oci://" + reg.Host + "/wasm/" + string(f) + ":v1", Image: true},
			{URL: "oci://" + reg.Host + "/wasm/" + string(f) + ":v1", SHA256: digest, Image: true},
			{URL: "oci://" + reg.Host + "/wasm/" + string(f) + "@sha256:" + digest, SHA256: digest, Image: true},
		} {
			m, err := outcome(t, s, c)
			if err != "" || m.SHA256 != pluginSHA || string(served(t, s, m)) != string(mod) {
				t.Errorf("%s: %+v %s", c, m, err)
			}
		}
	}
	reg.ResetCounts()
	again := imageStore(t, dir, StoreOptions{})
	for _, c := range []gatewayapi.WasmCode{
		{URL: "oci://" + reg.Host + "/wasm/docker:v1", Image: true},
		{URL: "oci://" + reg.Host + "/wasm/oci:v1", SHA256: digests[oci.FormatOCI], Image: true},
	} {
		if m, err := outcome(t, again, c); err != "" || m.SHA256 != pluginSHA {
			t.Errorf("after a restart %s: %s", c, err)
		}
	}
	if manifests, blobs, bytes := reg.Pulled(); blobs != 0 || manifests != 2 || bytes > 2048 {
		t.Errorf("cached images pulled %d manifests, %d blobs, %d bytes; want only the 2 manifests", manifests, blobs, bytes)
	}
}

func mustBuild(t *testing.T, mod []byte, f oci.Format) v1.Image {
	t.Helper()
	img, err := oci.Build(mod, f, oci.RuntimeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Pull secrets: without one or with a wrong password the registry's own
// answer is the error, also when another code already cached the module
// with the right one.
func TestImagePullSecrets(t *testing.T) {
	mod := plugin(t)
	reg := ocitest.New(t, "wasm", "s3cret")
	digest := reg.Push(t, "private/plugin:v1", mustBuild(t, mod, oci.FormatOCI))
	s := imageStore(t, t.TempDir(), StoreOptions{})
	url := "oci://" + reg.Host + "/private/plugin:v1"
	unauthorized := "GET http://" + reg.Host + "/v2/private/plugin/manifests/"
	if _, err := outcome(t, s, gatewayapi.WasmCode{URL: url, Image: true}); !strings.HasPrefix(err, "could not fetch Wasm OCI image: could not fetch manifest: "+unauthorized+"v1: UNAUTHORIZED: authentication required") {
		t.Errorf("no secret, cold: %s", err)
	}
	good := reg.DockerConfig("wasm", "s3cret")
	for _, sum := range []string{"", digest} {
		if m, err := outcome(t, s, gatewayapi.WasmCode{URL: url, SHA256: sum, Image: true, PullSecret: good}); err != "" || m.SHA256 != pluginSHA {
			t.Fatalf("right secret: %s", err)
		}
	}
	for name, secret := range map[string]string{"none": "", "wrong password": reg.DockerConfig("wasm", "guess"),
		"another registry's": `{"auths":{"registry.example.com":{"auth":"d2FzbTpzM2NyZXQ="}}}`} {
		for _, sum := range []string{"", digest} {
			_, err := outcome(t, s, gatewayapi.WasmCode{URL: url, SHA256: sum, Image: true, PullSecret: secret})
			want := "failed to login to private registry: could not fetch manifest: " + unauthorized + "v1: UNAUTHORIZED: authentication required"
			if !strings.HasPrefix(err, want) {
				t.Errorf("%s secret, sha256 %q, cached: %s\nwant %s", name, sum, err, want)
			}
			if strings.Contains(err, "s3cret") || strings.Contains(err, "guess") {
				t.Errorf("a credential in the error: %s", err)
			}
		}
	}
}

// A pinned digest the registry does not have under that tag fails with
// Envoy Gateway's message before any layer is pulled.
func TestImageDigestMismatch(t *testing.T) {
	reg := ocitest.New(t, "", "")
	reg.Push(t, "wasm/p:v1", mustBuild(t, plugin(t), oci.FormatDocker))
	s := imageStore(t, t.TempDir(), StoreOptions{})
	want := strings.Repeat("ab", 32)
	url := "oci://" + reg.Host + "/wasm/p:v1"
	reg.ResetCounts()
	_, err := outcome(t, s, gatewayapi.WasmCode{URL: url, SHA256: want, Image: true})
	if !strings.HasPrefix(err, "module downloaded from "+url+" has checksum ") || !strings.HasSuffix(err, ", which does not match: "+want) {
		t.Errorf("%s", err)
	}
	if _, blobs, _ := reg.Pulled(); blobs != 0 {
		t.Errorf("%d blobs pulled for a mismatched digest", blobs)
	}
}

// A tag that moves: IfNotPresent keeps the module it pulled, Always pulls
// again when the policy changes, and a digest pinned to the old image
// still serves it.
func TestImageMovingTag(t *testing.T) {
	mod := plugin(t)
	reg := ocitest.New(t, "", "")
	first := reg.Push(t, "wasm/p:v1", mustBuild(t, mod, oci.FormatDocker))
	s := imageStore(t, t.TempDir(), StoreOptions{})
	url := "oci://" + reg.Host + "/wasm/p:v1"
	if _, err := outcome(t, s, gatewayapi.WasmCode{URL: url, Image: true}); err != "" {
		t.Fatal(err)
	}
	second := reg.Push(t, "wasm/p:v1", mustBuild(t, mod, oci.FormatOCI))
	if first == second {
		t.Fatal("the two images must differ")
	}
	s2 := imageStore(t, s.o.Cache.Dir, StoreOptions{})
	reg.ResetCounts()
	if _, err := outcome(t, s2, gatewayapi.WasmCode{URL: url, Image: true}); err != "" {
		t.Fatal(err)
	}
	if s2.o.Cache.Tag(oci.ModuleName(url), url) != first {
		t.Errorf("IfNotPresent followed the moved tag")
	}
	if _, err := outcome(t, s2, gatewayapi.WasmCode{URL: url, Image: true, PullVersion: "2"}); err != "" {
		t.Fatal(err)
	}
	if s2.o.Cache.Tag(oci.ModuleName(url), url) != second {
		t.Errorf("Always did not pull the moved tag")
	}
	if _, err := outcome(t, s2, gatewayapi.WasmCode{URL: "oci://" + reg.Host + "/wasm/p@sha256:" + first, SHA256: first, Image: true}); err != "" {
		t.Errorf("the old digest by digest: %s", err)
	}
	// Pinned to the old digest by a tag that moved: a mismatch, though
	// the old module is cached.
	if _, err := outcome(t, s2, gatewayapi.WasmCode{URL: url, SHA256: first, Image: true}); err != "module downloaded from "+url+" has checksum "+second+", which does not match: "+first {
		t.Errorf("the pinned old digest under the moved tag: %s", err)
	}
}

// A registry that goes down keeps serving what was pulled, across a
// restart, to the credentials that pulled it; other credentials fail; a
// failed pull recovers by itself once the registry is back.
func TestImageRegistryDown(t *testing.T) {
	mod := plugin(t)
	reg := ocitest.New(t, "wasm", "s3cret")
	digest := reg.Push(t, "wasm/p:v1", mustBuild(t, mod, oci.FormatDocker))
	dir := t.TempDir()
	good := reg.DockerConfig("wasm", "s3cret")
	url := "oci://" + reg.Host + "/wasm/p:v1"
	tagCode := gatewayapi.WasmCode{URL: url, Image: true, PullSecret: good}
	pinned := gatewayapi.WasmCode{URL: url, SHA256: digest, Image: true, PullSecret: good}
	s := imageStore(t, dir, StoreOptions{})
	for _, c := range []gatewayapi.WasmCode{tagCode, pinned} {
		if _, err := outcome(t, s, c); err != "" {
			t.Fatal(err)
		}
	}
	reg.Stop()
	restarted := imageStore(t, dir, StoreOptions{RetryBase: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	always := tagCode
	always.PullVersion = "7" // pullPolicy Always: the tag would be resolved again
	for _, c := range []gatewayapi.WasmCode{tagCode, pinned, always} {
		if m, err := outcome(t, restarted, c); err != "" || m.SHA256 != pluginSHA {
			t.Errorf("registry down, %s: %s", c, err)
		}
	}
	stranger := gatewayapi.WasmCode{URL: url, SHA256: digest, Image: true, PullSecret: reg.DockerConfig("other", "x")}
	if _, err := outcome(t, restarted, stranger); !strings.Contains(err, "failed to login to private registry") || !strings.Contains(err, "connection refused") {
		t.Errorf("other credentials while the registry is down: %s", err)
	}
	fresh := gatewayapi.WasmCode{URL: "oci://" + reg.Host + "/wasm/p:v2", Image: true, PullSecret: good}
	if _, err := outcome(t, restarted, fresh); !strings.HasPrefix(err, "could not fetch Wasm OCI image: could not fetch manifest: ") || !strings.Contains(err, "connection refused") {
		t.Errorf("an image never pulled, registry down: %s", err)
	}
	reg.Start(t)
	reg.Push(t, "wasm/p:v2", mustBuild(t, mod, oci.FormatOCI))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, err := restarted.Snapshot().WasmModule(fresh); err == nil && m.SHA256 == pluginSHA {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed pull did not recover once the registry was back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := restarted.Snapshot().WasmModule(stranger); err == nil {
		t.Error("credentials the registry refuses got the module")
	}
}

// Credentials are asked again after RecheckEvery: a password the registry
// no longer accepts takes the module away, and it comes back with it.
func TestImageRecheck(t *testing.T) {
	reg := ocitest.New(t, "wasm", "s3cret")
	reg.Push(t, "wasm/p:v1", mustBuild(t, plugin(t), oci.FormatArtifact))
	changed := make(chan struct{}, 8)
	s := imageStore(t, t.TempDir(), StoreOptions{RecheckEvery: 100 * time.Millisecond, RetryBase: 50 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		OnChange: func() { changed <- struct{}{} }})
	c := gatewayapi.WasmCode{URL: "oci://" + reg.Host + "/wasm/p:v1", Image: true, PullSecret: reg.DockerConfig("wasm", "s3cret")}
	if _, err := outcome(t, s, c); err != "" {
		t.Fatal(err)
	}
	<-changed
	reg.SetPassword("rotated")
	<-changed
	if _, err := s.Snapshot().WasmModule(c); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED: authentication required") {
		t.Fatalf("after the password changed: %v", err)
	}
	reg.SetPassword("s3cret")
	<-changed
	if _, err := s.Snapshot().WasmModule(c); err != nil {
		t.Fatalf("after the password came back: %v", err)
	}
	// A registry that stays down through several rechecks, past the
	// grace of a remembered yes, takes nothing away.
	s.mu.Lock()
	clear(s.permits)
	s.mu.Unlock()
	oks, _ := filepath.Glob(filepath.Join(s.o.Cache.Dir, "*", "*"+permitSuffix))
	for _, ok := range oks {
		_ = os.Remove(ok)
	}
	if len(oks) == 0 {
		t.Fatal("no permission records to remove")
	}
	reg.Stop()
	time.Sleep(500 * time.Millisecond)
	if _, err := s.Snapshot().WasmModule(c); err != nil {
		t.Fatalf("registry down through rechecks: %v", err)
	}
	select {
	case <-changed:
		t.Error("a recheck against a registry that is down changed the outcome")
	default:
	}
}

// Registries that fail: a 500 (retried, then its message), one that never
// answers (a timeout), an unknown image (404).
func TestImageRegistryFailures(t *testing.T) {
	reg := ocitest.New(t, "", "")
	reg.Push(t, "wasm/p:v1", mustBuild(t, plugin(t), oci.FormatOCI))
	s := imageStore(t, t.TempDir(), StoreOptions{})
	url := "oci://" + reg.Host + "/wasm/p:v1"
	if _, err := outcome(t, s, gatewayapi.WasmCode{URL: "oci://" + reg.Host + "/wasm/p:nope", Image: true}); !strings.HasSuffix(err,
		"/v2/wasm/p/manifests/nope: MANIFEST_UNKNOWN: Unknown manifest") {
		t.Errorf("404: %s", err)
	}
	reg.SetMode(ocitest.Fail500)
	if _, err := outcome(t, s, gatewayapi.WasmCode{URL: url, Image: true, PullVersion: "500"}); !strings.Contains(err, "unexpected status code 500 Internal Server Error") {
		t.Errorf("500: %s", err)
	}
	reg.SetMode(ocitest.Hang)
	start := time.Now()
	if _, err := outcome(t, s, gatewayapi.WasmCode{URL: url, Image: true, PullVersion: "hang"}); !strings.Contains(err, "timeout awaiting response headers") {
		t.Errorf("hang: %s", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a hanging registry held the pull %v", d)
	}
}

// The cache makes room by removing the least recently used modules that
// no policy uses; modules in use stay, and when they alone fill it the
// error is Envoy Gateway's.
func TestImageCacheEviction(t *testing.T) {
	mod := plugin(t)
	reg := ocitest.New(t, "", "")
	a := reg.Push(t, "wasm/a:v1", mustBuild(t, mod, oci.FormatDocker))
	b := reg.Push(t, "wasm/b:v1", mustBuild(t, mod, oci.FormatOCI))
	dir := t.TempDir()
	cache := &Cache{Dir: dir, Limit: int64(len(mod))*2 + 4096}
	s := imageStore(t, dir, StoreOptions{Cache: cache})
	ca := gatewayapi.WasmCode{URL: "oci://" + reg.Host + "/wasm/a:v1", Image: true}
	cb := gatewayapi.WasmCode{URL: "oci://" + reg.Host + "/wasm/b:v1", Image: true}
	if _, err := outcome(t, s, ca); err != "" {
		t.Fatal(err)
	}
	s.Ensure(nil) // a's policy is gone
	if _, err := outcome(t, s, cb); err != "" {
		t.Fatal(err)
	}
	cc := gatewayapi.WasmCode{URL: "oci://" + reg.Host + "/wasm/c:v1", Image: true}
	reg.Push(t, "wasm/c:v1", mustBuild(t, mod, oci.FormatArtifact))
	s.Ensure([]gatewayapi.WasmCode{cb, cc})
	s.Wait(context.Background(), []gatewayapi.WasmCode{cc})
	if _, err := s.Snapshot().WasmModule(cc); err != nil {
		t.Fatalf("c: %v", err)
	}
	if _, _, ok := cache.GetImage(oci.ModuleName(ca.URL), a); ok {
		t.Error("the unused module a was not evicted")
	}
	if _, _, ok := cache.GetImage(oci.ModuleName(cb.URL), b); !ok {
		t.Error("the module b in use was evicted")
	}
	reg.Push(t, "wasm/d:v1", mustBuild(t, mod, oci.FormatArtifact))
	cd := gatewayapi.WasmCode{URL: "oci://" + reg.Host + "/wasm/d:v1", Image: true}
	s.Ensure([]gatewayapi.WasmCode{cb, cc, cd})
	s.Wait(context.Background(), []gatewayapi.WasmCode{cd})
	if _, err := s.Snapshot().WasmModule(cd); err == nil || err.Error() != "wasm cache size exceeded the limit: "+strconv.FormatInt(cache.Limit, 10) {
		t.Errorf("full of modules in use: %s", err)
	}
}

// A TLS registry: trusted through the policy's CA, refused without it.
func TestImageTLSRegistry(t *testing.T) {
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	ref, err := name.ParseReference(host + "/wasm/p:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, mustBuild(t, plugin(t), oci.FormatOCI), remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	s := imageStore(t, t.TempDir(), StoreOptions{})
	url := "oci://" + host + "/wasm/p:v1"
	if m, err := outcome(t, s, gatewayapi.WasmCode{URL: url, Image: true, CACert: ca}); err != "" || m.SHA256 != pluginSHA {
		t.Errorf("with the CA: %s", err)
	}
	if _, err := outcome(t, s, gatewayapi.WasmCode{URL: url, Image: true}); !strings.Contains(err, "certificate signed by unknown authority") {
		t.Errorf("without the CA: %s", err)
	}
	if _, err := outcome(t, s, gatewayapi.WasmCode{URL: url, Image: true, CACert: "not PEM"}); err != "could not fetch Wasm OCI image: the CA certificate of tls.caCertificateRef is not valid PEM" {
		t.Errorf("a bad CA: %s", err)
	}
}

// A plain-HTTP registry at an address go-containerregistry would ask over
// HTTPS first (127.0.0.2): its "server gave HTTP response" answer makes
// the pull go again over HTTP, as Envoy Gateway does.
func TestImagePlainHTTPFallback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	host := l.Addr().String()
	ref, err := name.ParseReference(host+"/wasm/p:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, mustBuild(t, plugin(t), oci.FormatDocker)); err != nil {
		t.Fatal(err)
	}
	s := imageStore(t, t.TempDir(), StoreOptions{})
	if m, err := outcome(t, s, gatewayapi.WasmCode{URL: "oci://" + host + "/wasm/p:v1", Image: true}); err != "" || m.SHA256 != pluginSHA {
		t.Errorf("plain HTTP registry: %s", err)
	}
}
