package wasm

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

// BenchmarkFilter is one GET through the filter and a small upstream, in
// process: what the plugin adds to a request (run with -benchmem; the
// "none" case is the same chain without the filter).
func BenchmarkFilter(b *testing.B) {
	cases := []struct {
		name string
		f    func(b *testing.B) filters.Filter
	}{
		{"none", func(*testing.B) filters.Filter {
			return filters.FilterFunc(func(s *filters.Stream, next filters.Next) { next(s) })
		}},
		{"header-go", func(b *testing.B) filters.Filter {
			return build(b, opts{code: inline(wasmtest.Build(b, "header"))}, nil)
		}},
		{"corpus-cpp", func(b *testing.B) filters.Filter {
			return build(b, opts{rootID: "my_root_id", code: inline(corpus(b))}, nil)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := c.f(b)
			serve(f, httptest.NewRequest("GET", "/", nil)) // load
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serve(f, httptest.NewRequest("GET", "/", nil))
			}
		})
	}
}

// BenchmarkFirstRequest is a config push's cost before the first request
// is served: download through the cluster, compile (or read the compiled
// code from the cache), instantiate the pool, run the request. cold uses
// an empty compilation cache every time, warm one that holds the module.
func BenchmarkFirstRequest(b *testing.B) {
	mod := wasmtest.Build(b, "header")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(mod) }))
	defer srv.Close()
	up := clusters{"wasm_cluster": strings.TrimPrefix(srv.URL, "http://")}
	defer func(d string) { Options.CompilationCacheDir = d }(Options.CompilationCacheDir)
	warm := b.TempDir()
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Options.CompilationCacheDir = warm
				if mode == "cold" {
					Options.CompilationCacheDir = b.TempDir()
				}
				// A distinct config each time, so no loaded plugin is shared.
				f := build(b, opts{config: strconv.Itoa(i) + mode, code: remote(srv.URL+"/h.wasm", sha(mod))}, up)
				if w := serve(f, httptest.NewRequest("GET", "/", nil)); w.Header().Get("X-Wasm-Custom") != "FOO" {
					b.Fatalf("%d %v", w.Code, w.Header())
				}
			}
		})
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
