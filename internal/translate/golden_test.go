package translate

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/resource"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the current output")

// TestGolden translates testdata/golden/<case>.in.yaml (with
// <case>.config.yaml as the EnvoyGateway config when present) to
// <case>.out.yaml: statuses, IR, routes and clusters, and the problems found
// in the input. Regenerate with `go test ./internal/translate -run TestGolden -update`
// and review the diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			opts := Options{
				Paths: []string{in},
				To:    []string{ToGatewayAPI, ToIR, ToXDS},
				Types: []string{"route", "cluster", "endpoint"},
			}
			cfgPath := filepath.Join("testdata/golden", name+".config.yaml")
			if _, err := os.Stat(cfgPath); err == nil {
				cfg, err := resource.LoadConfig(cfgPath)
				if err != nil {
					t.Fatalf("config: %v", err)
				}
				opts.Config = cfg
			}
			got := renderReport(t, opts)
			// Translation must be deterministic: a second run is byte-identical.
			if again := renderReport(t, opts); again != got {
				t.Fatal("two translations of the same input differ")
			}
			outPath := filepath.Join("testdata/golden", name+".out.yaml")
			if *update {
				if err := os.WriteFile(outPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(want) != got {
				t.Errorf("output differs from %s; run `go test ./internal/translate -run TestGolden -update` and review the diff.\n%s",
					outPath, firstDifference(string(want), got))
			}
		})
	}
}

// renderReport prints the problems, the errors and the output document.
func renderReport(t *testing.T, opts Options) string {
	t.Helper()
	report, err := Run(opts)
	var b strings.Builder
	if err != nil {
		b.WriteString("# error: " + err.Error() + "\n")
	}
	if report == nil {
		return b.String()
	}
	for _, p := range report.Problems {
		b.WriteString("# problem: " + p.String() + "\n")
	}
	for _, e := range report.Errors {
		b.WriteString("# error: " + e + "\n")
	}
	if report.Output != nil {
		data, err := report.Output.Marshal("yaml")
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

func firstDifference(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return ""
}
