package resource

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// A cached Load must give exactly what a fresh Load gives, whatever changed.
func TestCacheMatchesLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	route := func(name, host string) string {
		return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ` + name + `, namespace: default}
spec:
  hostnames: ["` + host + `"]
`
	}
	c := NewCache()
	check := func(step string) {
		t.Helper()
		want, wantP, wantErr := Load([]string{dir})
		for i := 0; i < 2; i++ { // a miss, then a hit
			got, gotP, gotErr := c.Load([]string{dir})
			if !reflect.DeepEqual(wantErr, gotErr) || !reflect.DeepEqual(wantP, gotP) {
				t.Fatalf("%s: problems %v %v, want %v %v", step, gotP, gotErr, wantP, wantErr)
			}
			if want.Len() != got.Len() || !reflect.DeepEqual(want.HTTPRoutes, got.HTTPRoutes) {
				t.Fatalf("%s: set differs", step)
			}
			sums := map[string][32]byte{}
			names, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
			for _, n := range names {
				b, _ := os.ReadFile(n)
				sums[n] = sha256.Sum256(b)
			}
			if !reflect.DeepEqual(sums, c.Sums()) {
				t.Fatalf("%s: sums %v, want %v", step, c.Sums(), sums)
			}
		}
	}
	write("a.yaml", route("a", "a.example.com"))
	write("b.yaml", route("b", "b.example.com")+"---\n"+route("b2", "x.example.com"))
	check("initial")
	write("c.yaml", route("a", "dup.example.com")) // duplicate of a
	check("duplicate")
	write("b.yaml", route("b", "b.example.com")+"---\nkind: [\n")
	check("bad yaml")
	write("a.yaml", route("a", "a2.example.com"))
	check("edit")
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	check("delete: the duplicate now wins")
	write("b.yaml", "---\n"+route("b", "b.example.com")+"---\n"+route("b2", "x.example.com"))
	check("lines moved")
}

// A reload reads only files whose size or time stamp moved, or that a
// watcher named through Changed: a same-sized rewrite within the kernel's
// time stamp granularity is caught only by Changed, which is why the file
// provider calls it for every event.
func TestCacheRereadsWhatChangedNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	stamp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(host string) {
		t.Helper()
		data := "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: default}\nspec:\n  hostnames: [\"" + host + "\"]\n"
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	host := func(c *Cache) string {
		t.Helper()
		set, probs, err := c.Load([]string{dir})
		if err != nil || len(probs) > 0 || len(set.HTTPRoutes) != 1 {
			t.Fatalf("load: %v %v", err, probs)
		}
		return string(set.HTTPRoutes[0].Spec.Hostnames[0])
	}
	c := NewCache()
	write("a.example.com")
	if h := host(c); h != "a.example.com" {
		t.Fatalf("first load: %s", h)
	}
	write("b.example.com") // same size, same time stamp
	if h := host(c); h != "a.example.com" {
		t.Fatalf("an unflagged same-sized rewrite was read (%s): the test no longer shows why Changed exists", h)
	}
	c.Changed(path)
	if h := host(c); h != "b.example.com" {
		t.Fatalf("after Changed(file): %s", h)
	}
	write("c.example.com")
	c.Changed(dir)
	if h := host(c); h != "c.example.com" {
		t.Fatalf("after Changed(folder): %s", h)
	}
	write("d.example.com")
	c.ChangedAll()
	if h := host(c); h != "d.example.com" {
		t.Fatalf("after ChangedAll: %s", h)
	}
	// Without any call, a new size is enough.
	write("eee.example.com")
	if h := host(c); h != "eee.example.com" {
		t.Fatalf("a resized file was not read: %s", h)
	}
	if sum := c.Sums()[path]; sum != sha256.Sum256(mustRead(t, path)) {
		t.Fatal("Sums do not describe the bytes loaded")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDirtyMatchesFilesAndTheFoldersHoldingThem(t *testing.T) {
	c := NewCache()
	for _, tc := range []struct {
		changed []string
		path    string
		want    bool
	}{
		{nil, "/a/b/r.yaml", false},
		{[]string{"/a/b/r.yaml"}, "/a/b/r.yaml", true},
		{[]string{"/a/b/r.yaml"}, "/a/b/s.yaml", false},
		{[]string{"/a/b"}, "/a/b/r.yaml", true},
		{[]string{"/a"}, "/a/b/r.yaml", true},
		{[]string{"/a/b/"}, "/a/b/r.yaml", true},
		{[]string{"/a/b"}, "/a/bc/r.yaml", false},
		{[]string{"/"}, "/a/b/r.yaml", true},
		{[]string{"dir"}, "dir/r.yaml", true},
		{[]string{"dir"}, "dirt/r.yaml", false},
	} {
		changed := map[string]bool{}
		for _, p := range tc.changed {
			changed[filepath.Clean(p)] = true
		}
		if got := c.dirty(changed, false, tc.path); got != tc.want {
			t.Errorf("changed %v, %s: dirty = %v, want %v", tc.changed, tc.path, got, tc.want)
		}
	}
}
