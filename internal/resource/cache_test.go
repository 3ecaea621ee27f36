package resource

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"testing"
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
