package xdstypes_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const translatorPath = "github.com/portico-gw/portico/internal/xds/translator"

// allowedImporters are the packages that run the xDS translator. Every
// other package that needs its output or its hooks' types imports
// xdstypes, so a change inside the translator rebuilds (and can break) only
// what runs it.
var allowedImporters = map[string]bool{
	"internal/pipeline": true,
}

func TestOnlyThePipelineImportsTheTranslator(t *testing.T) {
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	importers := translatorImporters(t, repo)
	if len(importers) == 0 {
		t.Fatal("no package imports the translator: the walk is broken")
	}
	for dir := range importers {
		if !allowedImporters[dir] {
			t.Errorf("%s imports the xDS translator outside its tests; import internal/xds/xdstypes for the types", dir)
		}
	}
}

// translatorImporters maps each directory (relative to repo) whose non-test
// Go files import the translator.
func translatorImporters(t *testing.T, repo string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != repo && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == translatorPath {
				rel, _ := filepath.Rel(repo, filepath.Dir(path))
				if !strings.HasPrefix(rel, "internal/xds/translator") {
					out[filepath.ToSlash(rel)] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
