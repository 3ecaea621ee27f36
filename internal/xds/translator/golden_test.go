package translator

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

var update = flag.Bool("update", false, "rewrite testdata/out from the translator's output")

func loadIR(t testing.TB, path string) *ir.Xds {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := &ir.Xds{}
	if err := yaml.UnmarshalStrict(b, x); err != nil {
		// Envoy Gateway inputs carry IR fields Portico does not have yet
		// (http3, tcp, udp); read what we know.
		x = &ir.Xds{}
		if err := yaml.Unmarshal(b, x); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return x
}

// protoYAML renders messages as egctl does: protojson (camelCase), as YAML
// with sorted keys.
func protoYAML[M proto.Message](t testing.TB, ms []M) []byte {
	t.Helper()
	var list []any
	for _, m := range ms {
		j, err := protojson.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(j, &v); err != nil {
			t.Fatal(err)
		}
		list = append(list, v)
	}
	out, err := yaml.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// outputs is every golden file of one translation (type -> YAML), empty
// lists left out.
func outputs(t testing.TB, res *xdstypes.Resources, err error) map[string][]byte {
	m := map[string][]byte{}
	add := func(kind string, n int, b func() []byte) {
		if n > 0 {
			m[kind] = b()
		}
	}
	add("listeners", len(res.Listeners), func() []byte { return protoYAML(t, res.Listeners) })
	add("routes", len(res.Routes), func() []byte { return protoYAML(t, res.Routes) })
	add("clusters", len(res.Clusters), func() []byte { return protoYAML(t, res.Clusters) })
	add("endpoints", len(res.Endpoints), func() []byte { return protoYAML(t, res.Endpoints) })
	add("secrets", len(res.Secrets), func() []byte { return protoYAML(t, res.Secrets) })
	if err != nil {
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("error is not translator.Errors: %v", err)
		}
		var lines []string
		for _, e := range es {
			lines = append(lines, e.Error())
		}
		b, _ := yaml.Marshal(lines)
		m["errors"] = b
	}
	return m
}

func TestGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/in/*.yaml")
	if len(ins) == 0 {
		t.Fatal("no inputs")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			x := loadIR(t, in)
			res, err := Translate(x)
			got := outputs(t, res, err)
			// Byte-identical on a second run.
			res2, err2 := Translate(x)
			if again := outputs(t, res2, err2); !sameOutputs(got, again) {
				t.Fatal("translation is not deterministic")
			}
			for _, kind := range []string{"listeners", "routes", "clusters", "endpoints", "secrets", "errors"} {
				path := filepath.Join("testdata/out", name+"."+kind+".yaml")
				if *update {
					if b, ok := got[kind]; ok {
						if err := os.WriteFile(path, b, 0o644); err != nil {
							t.Fatal(err)
						}
					} else {
						_ = os.Remove(path)
					}
					continue
				}
				want, rerr := os.ReadFile(path)
				b, ok := got[kind]
				switch {
				case rerr != nil && !ok:
				case rerr != nil:
					t.Errorf("%s: unexpected output (run with -update):\n%s", path, b)
				case !ok:
					t.Errorf("%s: expected output, got none", path)
				case string(want) != string(b):
					t.Errorf("%s differs (run with -update); got:\n%s", path, b)
				}
			}
		})
	}
}

func sameOutputs(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			return false
		}
	}
	return true
}
