package translator

import (
	"path/filepath"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

type validator interface{ ValidateAll() error }

// TestValidateAndConsistent: every resource of every golden input passes
// go-control-plane's validation, and a snapshot of them is consistent.
func TestValidateAndConsistent(t *testing.T) {
	ins, _ := filepath.Glob("testdata/in/*.yaml")
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			res, _ := Translate(loadIR(t, in))
			for typ, list := range res.ByType() {
				for _, r := range list {
					if err := r.(validator).ValidateAll(); err != nil {
						t.Errorf("%s: %v", typ, err)
					}
				}
			}
			snap, err := cache.NewSnapshot("1", res.ByType())
			if err != nil {
				t.Fatal(err)
			}
			if err := snap.Consistent(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
