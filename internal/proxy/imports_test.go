package proxy_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const (
	module = "github.com/portico-gw/portico/"
	root   = module + "internal/proxy"
)

// rooms ranks the proxy's packages: a package imports only packages of a
// lower rank (docs/architecture.md draws the same picture). A package
// missing here fails the test, so a new room is placed on purpose.
var rooms = map[string]int{
	"match": 0, "budget": 0, "streaminfo": 0, "stats": 0, "admin": 1, "xdsconf": 0, "pathnorm": 0, "h1srv": 0, "h2flood": 0,
	"h1client": 1, "tlsconf": 1,
	"filters": 2, "cluster": 2,
	"route": 3, "accesslog": 3,
	"hcm": 4, "tcpproxy": 4, "udpproxy": 4,
	"listener": 5, "xdsclient": 5,
	"": 7, // the root: Proxy, and the assembly of the rooms
}

// filterRank is the rank of the filter packages (filters/<name>/...):
// they see the proxy through package filters only, so they may import
// what filters may (rank 2 and below, cluster excepted) and each other;
// filters/all, which lists them, ranks above them.
const filterRank, allRank = 2, 6

// The proxy's packages form layers: none imports a package above it (the
// root, say), a filter package imports no room but the contract, and no
// package of the data plane imports the control plane (the proxy learns
// everything from xDS).
func TestImportGraphIsLayered(t *testing.T) {
	imports := proxyImports(t)
	if len(imports) < len(rooms) {
		t.Fatalf("found %d packages: the walk is broken", len(imports))
	}
	for _, b := range layerViolations(imports) {
		t.Error(b)
	}
}

// The check itself: each kind of violation is caught.
func TestLayerViolationsAreFound(t *testing.T) {
	p := func(s string) string { return root + s }
	got := layerViolations(map[string][]string{
		p("/streaminfo"):    {p("/route"), "net/http"},
		p("/route"):         {module + "internal/ir", p("/filters")},
		p("/filters/lua"):   {p("/hcm"), p("/filters"), p("/filters/envoylog")},
		p("/filters/rbac"):  {p("/cluster")},
		p("/newroom"):       nil,
		p("/hcm"):           {p("/route"), p("/cluster"), p("")},
		p("/filters/all"):   {p("/filters/lua")},
		p("/xdsclient"):     {p("/listener")},
		p("/filters/extra"): {p("/filters/all")},
	})
	want := []string{
		p("/filters/extra") + " (a filter) imports " + p("/filters/all") + ": filters see the proxy through package filters only",
		p("/filters/lua") + " (a filter) imports " + p("/hcm") + ": filters see the proxy through package filters only",
		p("/filters/rbac") + " (a filter) imports " + p("/cluster") + ": filters see the proxy through package filters only",
		p("/hcm") + " (rank 4) imports " + p("") + " (rank 7)",
		p("/newroom") + " is in no room of rooms (imports_test.go): place it",
		p("/route") + " imports the control plane's " + module + "internal/ir",
		p("/streaminfo") + " (rank 0) imports " + p("/route") + " (rank 3)",
		p("/xdsclient") + " (rank 5) imports " + p("/listener") + " (rank 5)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// layerViolations says what in imports breaks the layers.
func layerViolations(imports map[string][]string) []string {
	var bad []string
	for pkg, deps := range imports {
		rank, isFilter, ok := rankOf(pkg)
		if !ok {
			bad = append(bad, pkg+" is in no room of rooms (imports_test.go): place it")
			continue
		}
		for _, dep := range deps {
			if !strings.HasPrefix(dep, module) {
				continue
			}
			if dep != root && !strings.HasPrefix(dep, root+"/") {
				bad = append(bad, pkg+" imports the control plane's "+dep)
				continue
			}
			drank, depFilter, ok := rankOf(dep)
			switch {
			case !ok:
				continue // reported as a package of its own
			case isFilter && depFilter && drank != allRank:
				// filters may share helper packages (a log level table, a
				// test harness).
			case isFilter && (drank > filterRank || dep == root+"/cluster"):
				bad = append(bad, pkg+" (a filter) imports "+dep+": filters see the proxy through package filters only")
			case !isFilter && drank >= rank:
				bad = append(bad, pkg+" (rank "+strconv.Itoa(rank)+") imports "+dep+" (rank "+strconv.Itoa(drank)+")")
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// rankOf places a package: its room's rank, or the filters'.
func rankOf(pkg string) (rank int, isFilter, ok bool) {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, root), "/")
	switch {
	case rel == "filters/all":
		return allRank, strings.HasPrefix(rel, "filters/"), true
	case strings.HasPrefix(rel, "filters/"):
		return filterRank, true, true
	}
	first, _, _ := strings.Cut(rel, "/")
	rank, ok = rooms[first]
	return rank, false, ok
}

// proxyImports lists, for every package under internal/proxy, what its
// non-test files import.
func proxyImports(t *testing.T) map[string][]string {
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.Contains(path, "testdata") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil // a test plugin's or tool's own program
		}
		pkg := root
		if dir := filepath.ToSlash(filepath.Dir(path)); dir != "." {
			pkg += "/" + dir
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[pkg] = append(out[pkg], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
