package translate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/bench/routegen"
)

// BenchmarkRun1000Routes is `x translate --to gateway-api,xds` end to end on
// bench/gen-routes output, without process start-up.
func BenchmarkRun1000Routes(b *testing.B) {
	path := filepath.Join(b.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, routegen.Bytes(1000, 50), 0o644); err != nil {
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
