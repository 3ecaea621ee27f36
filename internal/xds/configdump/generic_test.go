package configdump

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
	"github.com/portico-gw/portico/internal/xds/translator"
	"google.golang.org/protobuf/proto"
)

// canonical re-encodes a generic document so two can be compared as text.
func canonical(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal(out)
	return string(data)
}

// viaProtojson is the reference rendering: Envoy's redaction of sensitive
// fields applied to a copy (redactCopy), then protojson.
func viaProtojson(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := protojson.Marshal(redactCopy(t, m))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return canonical(t, v)
}

func check(t *testing.T, name string, m proto.Message) {
	t.Helper()
	r := newRenderer()
	g, err := r.toGeneric(m.ProtoReflect())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got, want := canonical(t, g), viaProtojson(t, m); got != want {
		t.Errorf("%s: generic rendering differs from protojson\n got: %s\nwant: %s", name, got, want)
	}
}

// TestGenericMatchesProtojson renders every resource of the xDS
// translator's golden cases, the bootstrap, and the well-known types both
// ways and requires identical documents.
func TestGenericMatchesProtojson(t *testing.T) {
	inputs, err := filepath.Glob("../translator/testdata/in/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no translator inputs: %v", err)
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		var x ir.Xds
		if err := yaml.Unmarshal(data, &x); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		res, _ := translator.Translate(&x)
		for _, typ := range []Type{Cluster, Listener, Route, Endpoint, Secret} {
			// protojson needs real Anys; the renderer's own packing must
			// render the same.
			r := newRenderer()
			m, err := r.section(res, nil, typ)
			if err != nil {
				t.Fatal(err)
			}
			g, err := r.toJSON(m)
			if err != nil {
				t.Fatal(err)
			}
			eager, err := (&renderer{}).section(res, nil, typ)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := canonical(t, g), viaProtojson(t, mustAny(t, eager)); got != want {
				t.Errorf("%s/%s: rendering differs from protojson\n got: %s\nwant: %s", in, typ, got, want)
			}
		}
	}
	check(t, "bootstrap", mustAny(t, bootstrap.Build(bootstrap.EnvoyGatewayDefaults())))

	st, _ := structpb.NewStruct(map[string]any{"a": 1.5, "b": []any{"x", true, nil}, "c": map[string]any{}})
	for name, m := range map[string]proto.Message{
		"duration":  durationpb.New(1500000000),
		"negative":  durationpb.New(-2000),
		"timestamp": timestamppb.New(timestamppb.Now().AsTime()),
		"struct":    st,
		"wrapper":   wrapperspb.UInt64(1 << 60),
		"double":    wrapperspb.Double(0.1),
		"emptyAny":  &anypb.Any{},
	} {
		check(t, name, m)
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "any/"+name, a)
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
