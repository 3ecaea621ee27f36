// Package wasmtest builds the Go test plugins (and the guide's example
// plugin) with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, once
// per source: builds are cached by a hash of the plugin's source, go.mod,
// go.sum and the Go version, under $PORTICO_CACHE (default
// ~/.cache/portico)/wasm-plugins, so a test run pays for a build only
// when a plugin changed.
package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
)

// Plugins lists the plugins by name: "header" is examples/wasm/plugin,
// the others are under plugins/ beside this file.
var Plugins = []string{"header", "config", "auth", "body", "httpcall", "faults", "trailers"}

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// repoRoot is the module root, found from this file's path.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..")
}

// Dir is the source directory of a plugin.
func Dir(name string) string {
	if name == "header" {
		return filepath.Join(repoRoot(), "examples", "wasm", "plugin")
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "plugins", name)
}

// Build returns the module of a plugin, building it when needed.
func Build(t testing.TB, name string) []byte {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[name]; ok {
		return b
	}
	dir := Dir(name)
	key, err := sourceKey(dir)
	if err != nil {
		t.Fatalf("plugin %s: %v", name, err)
	}
	out := filepath.Join(cacheDir(), name+"-"+key+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		built[name] = b
		return b
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	// Test binaries of several packages may build the same plugin at once:
	// each writes its own file and the rename is atomic.
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", tmp, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building plugin %s: %v\n%s", name, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	built[name] = b
	return b
}

func cacheDir() string {
	if d := os.Getenv("PORTICO_CACHE"); d != "" {
		return filepath.Join(d, "wasm-plugins")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "portico", "wasm-plugins")
	}
	return filepath.Join(os.TempDir(), "portico-wasm-plugins")
}

// sourceKey hashes what the build depends on.
func sourceKey(dir string) (string, error) {
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range append(files, filepath.Join(repoRoot(), "go.mod"), filepath.Join(repoRoot(), "go.sum")) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		h.Write([]byte(filepath.Base(f)))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

var (
	compiledOnce sync.Once
	compiled     wazero.CompilationCache
)

// CompilationCache is a compilation cache for tests, on disk beside the
// built plugins, so that test runs after the first compile nothing.
func CompilationCache() wazero.CompilationCache {
	compiledOnce.Do(func() {
		c, err := wazero.NewCompilationCacheWithDir(filepath.Join(cacheDir(), "compiled"))
		if err != nil {
			c = wazero.NewCompilationCache()
		}
		compiled = c
	})
	return compiled
}
