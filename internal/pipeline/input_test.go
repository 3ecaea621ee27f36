package pipeline

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/portico-gw/portico/internal/resource"
)

// The translators share parts of their input with their output (and the
// file provider reuses unchanged input objects across reloads), so a run
// must leave its input exactly as loaded: every golden input is loaded
// twice, one copy is run through the whole pipeline, and the two must
// still be deeply equal.
func TestRunLeavesItsInputAlone(t *testing.T) {
	ins, _ := filepath.Glob("../translate/testdata/golden/*.in.yaml")
	ins = append(ins, "../../examples/quickstart/quickstart.yaml", "../../examples/lua", "../../examples/patch-policy")
	if len(ins) < 5 {
		t.Fatalf("only %d inputs found", len(ins))
	}
	for _, in := range ins {
		a, _, err := resource.Load([]string{in})
		if err != nil {
			t.Fatal(err)
		}
		b, _, _ := resource.Load([]string{in})
		Run(context.Background(), a, config(true), Options{})
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: the run modified its input", in)
		}
	}
}
