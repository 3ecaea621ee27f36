package resource

import (
	"path/filepath"
	"testing"
)

func TestCorpusSmoke(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/corpus/egctl-translate/in/*.yaml")
	more, _ := filepath.Glob("/work/shared/corpus/e2e-manifests/*.yaml")
	for _, f := range append(files, more...) {
		set, probs, err := Load([]string{f})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d objects, %d problems", filepath.Base(f), set.Len(), len(probs))
		for _, p := range probs {
			t.Logf("  %s", p)
		}
	}
}
