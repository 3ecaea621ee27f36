package all_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/proxy/filters"
	_ "github.com/portico-gw/portico/internal/proxy/filters/all"
)

const module = "github.com/portico-gw/portico/internal/proxy/filters/"

// Every package under filters/ that registers a factory is in the list:
// a filter left out would register nowhere and every config naming it
// would be NACKed as unknown.
func TestEveryFilterPackageIsListed(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "all.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, imp := range f.Imports {
		listed[strings.Trim(imp.Path.Value, `"`)] = true
	}
	registering := map[string]bool{}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if dir == ".." { // package filters itself: the router, part of the contract
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(src), "filters.Register(") {
			registering[module+strings.TrimPrefix(dir, "../")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(registering) == 0 {
		t.Fatal("found no filter package: the walk is broken")
	}
	for p := range registering {
		if !listed[p] {
			t.Errorf("%s registers a filter but is not imported by all.go", p)
		}
	}
	for p := range listed {
		if !registering[p] {
			t.Errorf("all.go imports %s, which registers no filter", p)
		}
	}
}

// The filters Envoy Gateway's configs name are registered once the list
// is linked.
func TestListedFiltersRegister(t *testing.T) {
	for _, name := range []string{"envoy.extensions.filters.http.router.v3.Router",
		"envoy.extensions.filters.http.health_check.v3.HealthCheck",
		"envoy.extensions.filters.http.basic_auth.v3.BasicAuth",
		"envoy.extensions.filters.http.lua.v3.Lua"} {
		if _, ok := filters.Lookup(filters.TypeURL(name)); !ok {
			t.Errorf("%s is not registered", name)
		}
	}
}
