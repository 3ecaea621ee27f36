package support

import (
	"os"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/resource"
)

// TestLedgerCoversEverySchemaField walks the CRD schema of every kind the
// loader accepts: each field must be decided by a ledger row, so no field a
// user writes can be silently ignored.
func TestLedgerCoversEverySchemaField(t *testing.T) {
	kinds := resource.LoadedKinds()
	if len(kinds) < 10 {
		t.Fatalf("only %d loaded kinds: %v", len(kinds), kinds)
	}
	for _, k := range kinds {
		fields, err := resource.SchemaFields(k.Group, k.Kind)
		if err != nil {
			t.Fatal(err)
		}
		if len(fields) == 0 {
			t.Errorf("%s: the schema has no spec fields", k.Kind)
		}
		for _, f := range fields {
			if _, ok := For(k.Kind, f); !ok {
				t.Errorf("%s %s is neither supported nor listed as unsupported in the ledger (internal/support/ledger.go)", k.Kind, f)
			}
		}
	}
}

// TestLedgerRowsAreReal checks the table itself: every row names a loaded
// kind and a field of its schema, NotYet rows say what they do, and rows
// are small enough to notice new fields.
func TestLedgerRowsAreReal(t *testing.T) {
	schema := map[string]map[string]bool{}
	for _, k := range resource.LoadedKinds() {
		fields, err := resource.SchemaFields(k.Group, k.Kind)
		if err != nil {
			t.Fatal(err)
		}
		schema[k.Kind] = map[string]bool{"spec": true}
		for _, f := range fields {
			schema[k.Kind][f] = true
		}
	}
	seen := map[string]bool{}
	for _, e := range Ledger {
		key := e.Kind + " " + e.Path + " " + e.Value
		if seen[key] {
			t.Errorf("%s: duplicate row", key)
		}
		seen[key] = true
		fields, ok := schema[e.Kind]
		switch {
		case !ok:
			t.Errorf("%s: not a kind the loader accepts", key)
			continue
		case !fields[e.Path]:
			t.Errorf("%s: no such field in the %s schema", key, e.Kind)
		}
		if (e.State == NotYet) != (e.Effect != NoCondition) {
			t.Errorf("%s: a NotYet row needs an Effect, and only it", key)
		}
		if e.State == Supported {
			n := 0
			for f := range fields {
				if best, ok := For(e.Kind, f); ok && best.Path == e.Path && f != e.Path {
					n++
				}
			}
			if n > maxSupportedFields {
				t.Errorf("%s covers %d fields (at most %d): list its fields", key, n, maxSupportedFields)
			}
			continue
		}
		// A row that produces a condition must not contain another row,
		// or setting the inner field would also report the outer one.
		for _, o := range Ledger {
			if o.Kind == e.Kind && o.Path != e.Path && hasPathPrefix(o.Path, e.Path) {
				t.Errorf("%s contains the row %s", key, o.Path)
			}
		}
	}
}

// TestMatrixIsCurrent fails when docs/support-matrix.md was not regenerated
// after the ledger changed.
func TestMatrixIsCurrent(t *testing.T) {
	got, err := os.ReadFile("../../docs/support-matrix.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := Matrix(); string(got) != want {
		t.Fatalf("docs/support-matrix.md is stale: run `go run ./internal/support/gen`")
	}
}

func TestMatrixNamesEveryRow(t *testing.T) {
	m := Matrix()
	for _, e := range Ledger {
		if !strings.Contains(m, "`"+e.Path+"`") {
			t.Errorf("matrix lacks %s %s", e.Kind, e.Path)
		}
	}
}
