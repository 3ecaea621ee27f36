package patch

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/internal/xds/translator"
)

var update = flag.Bool("update", false, "rewrite testdata/out from the current output")

// goldenOut is what a case records: each policy's Programmed condition and
// the unified diff of every resource each policy changed.
type goldenOut struct {
	Statuses []goldenStatus `json:"statuses"`
	Changes  []goldenChange `json:"changes,omitempty"`
}

type goldenStatus struct {
	Policy     string `json:"policy"`
	Programmed string `json:"programmed"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
}

type goldenChange struct {
	Policy string   `json:"policy"`
	Diff   []string `json:"diff"`
}

// TestGolden applies testdata/in/<case>.yaml (policies, on top of
// testdata/base.yaml) and compares with testdata/out/<case>.yaml.
// go test ./internal/patch -run TestGolden -update rewrites the outputs.
func TestGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/in/*.yaml")
	if len(ins) == 0 {
		t.Fatal("no golden cases")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			x := loadIR(t, "testdata/base.yaml")
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(b, x); err != nil {
				t.Fatal(err)
			}
			res, err := translator.Translate(x)
			if err != nil {
				t.Fatal(err)
			}
			patched, statuses := Apply(res, x.EnvoyPatchPolicies, Options{Names: NamesFor(x), RecordChanges: true})
			for _, m := range fromResources(patched) {
				for _, r := range m {
					if err := validate(r); err != nil {
						t.Errorf("patched resource %s is invalid: %v", nameOf(r), err)
					}
				}
			}
			var out goldenOut
			for _, s := range statuses {
				out.Statuses = append(out.Statuses, goldenStatus{
					Policy: s.Namespace + "/" + s.Name, Programmed: string(s.Programmed.Status),
					Reason: s.Programmed.Reason, Message: s.Programmed.Message,
				})
				for _, c := range s.Changes {
					d, err := Diff(c)
					if err != nil {
						t.Fatal(err)
					}
					out.Changes = append(out.Changes, goldenChange{Policy: s.Namespace + "/" + s.Name, Diff: strings.Split(strings.TrimSuffix(d, "\n"), "\n")})
				}
			}
			got, err := yaml.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata/out", name+".yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("output differs from %s (run with -update and review the diff):\n%s", path, got)
			}
		})
	}
}
