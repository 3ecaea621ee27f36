package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/wasm/oci"
	"github.com/portico-gw/portico/internal/wasm/oci/ocitest"
)

// TestWasmImageFigures measures, on the runner and the built-in proxy with
// a registry on loopback, the time from writing a policy that names an
// image to the first response carrying its header: cold (a repository
// whose module is not in the cache: manifest and layer pulled) and warm
// (a tag of an image whose module is cached: only the manifest), and the
// registry bytes each pulled. It only reports; it runs when
// PORTICO_WASM_IMAGE_FIGURES gives the number of policies per case:
//
//	PORTICO_WASM_IMAGE_FIGURES=10 go test ./test/e2e -run TestWasmImageFigures -v
func TestWasmImageFigures(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PORTICO_WASM_IMAGE_FIGURES"))
	if n < 1 {
		t.Skip("set PORTICO_WASM_IMAGE_FIGURES=N to measure (a figure, not a check)")
	}
	mod := corpusPlugin(t)
	reg := ocitest.New(t, "", "")
	for i := range n {
		// Cold: a repository of its own, so its module is not cached.
		reg.Push(t, fmt.Sprintf("cold%d/plugin:v1", i), wasmImage(t, mod, oci.FormatDocker))
		// Warm: one image under many tags; its module is cached once.
		reg.Push(t, fmt.Sprintf("warm/plugin:v%d", i), wasmImage(t, mod, oci.FormatDocker))
	}
	bp := backend(t, "one")
	gw := freePort(t)
	e := startWithOptions(t, nil, map[string]string{
		"gateway.yaml":     gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":       routeYAML("backend", bp),
		"warm-route.yaml":  namedRouteYAML("warmup", "warmup.example.com", "backend", bp),
		"warm-policy.yaml": imagePolicy("warmup", "warmup", reg.Host+"/warm/plugin:v0", "", "", ""),
	}, gw, nil)
	e.expectFOO("warmup.example.com")
	measure := func(kind string, i int, url string) (time.Duration, int64, int64) {
		name := fmt.Sprintf("%s%d", kind, i)
		writeFile(t, filepath.Join(e.dir, name+"-route.yaml"), namedRouteYAML(name, name+".example.com", "backend", bp))
		// The route first, so that only the policy is timed.
		e.eventually("route "+name, func() bool {
			code, _ := e.header(name+".example.com", "/", "x-wasm-custom")
			return code == http.StatusOK
		})
		reg.ResetCounts()
		start := time.Now()
		writeFile(t, filepath.Join(e.dir, name+"-policy.yaml"), imagePolicy(name, name, url, "", "", ""))
		for {
			if code, v := e.header(name+".example.com", "/", "x-wasm-custom"); code == http.StatusOK && v == "FOO" {
				break
			}
			if time.Since(start) > waitLimit {
				t.Fatalf("%s never served", name)
			}
			time.Sleep(2 * time.Millisecond)
		}
		d := time.Since(start)
		_, blobs, bytes := reg.Pulled()
		return d, blobs, bytes
	}
	for _, kind := range []string{"cold", "warm"} {
		var ds []time.Duration
		var blobs, bytes int64
		for i := range n {
			url := fmt.Sprintf("%s/cold%d/plugin:v1", reg.Host, i)
			if kind == "warm" {
				url = fmt.Sprintf("%s/warm/plugin:v%d", reg.Host, i+1)
				if i+1 >= n {
					break
				}
			}
			d, b, by := measure(kind, i, url)
			ds = append(ds, d)
			blobs += b
			bytes += by
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		t.Logf("%s: %d policies, policy file written -> first response with the plugin: min %v, median %v, max %v; registry: %d blob GETs, %d bytes per policy",
			kind, len(ds), ds[0], ds[len(ds)/2], ds[len(ds)-1], blobs, bytes/int64(len(ds)))
	}
}
