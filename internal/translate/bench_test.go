package translate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/bench/routegen"
)

// BenchmarkRun1000Routes is `x translate --to gateway-api,xds` end to end on
// bench/gen-routes output, without process start-up.
func BenchmarkRun1000Routes(b *testing.B) { benchmarkRun(b, 1000) }

// BenchmarkRun10000Routes is the same at ten times the size (slow: run it
// on its own with -benchtime 1x).
func BenchmarkRun10000Routes(b *testing.B) { benchmarkRun(b, 10000) }

func benchmarkRun(b *testing.B, routes int) {
	path := filepath.Join(b.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, routegen.Bytes(routes, 50), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		report, err := Run(Options{Paths: []string{path}, To: []string{ToGatewayAPI, ToXDS}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := report.Output.Marshal("yaml"); err != nil {
			b.Fatal(err)
		}
	}
}
