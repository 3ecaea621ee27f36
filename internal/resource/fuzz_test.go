package resource

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad checks the loader never panics, whatever the bytes: run it with
// go test ./internal/resource -run '^$' -fuzz=FuzzLoad -fuzztime=60s
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("/work/shared/corpus/egctl-translate/in/*.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(goodBefore + route("  rules:\n  - matches:\n    - path: {type: Prefixx}") + goodAfter))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [1, {kind: List, apiVersion: v1, items: [[]]}]\n"))
	f.Add([]byte("--- |\n  text\n...\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"data\": {\"a\": 1e999}}"))
	// Compile every embedded CRD up front: under the fuzzer's coverage instrumentation the
	// YAML parse of 2 MB of CRDs takes tens of seconds per worker, which otherwise looks
	// like a hung input in the first minute.
	if reg, err := builtinCRDs(); err == nil {
		for _, c := range reg.byGK {
			_ = c.load()
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, probs := LoadBytes("fuzz.yaml", data)
		if set == nil {
			t.Fatal("nil set")
		}
		for _, p := range probs {
			_ = p.String()
		}
	})
}
