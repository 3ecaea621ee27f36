package resource

import (
	"reflect"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// TestStripDescriptions: for every embedded CRD, parsing the stripped text gives the
// same tree as parsing the original and dropping description keywords.
func TestStripDescriptions(t *testing.T) {
	reg, err := builtinCRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range reg.byGK {
		var full, stripped map[string]any
		if err := yaml.Unmarshal(c.data, &full); err != nil {
			t.Fatal(err)
		}
		s := stripDescriptions(c.data)
		if err := yaml.Unmarshal(s, &stripped); err != nil {
			t.Fatalf("%s: stripped text does not parse: %v", c.source, err)
		}
		dropDescriptions(full, false)
		if !reflect.DeepEqual(full, stripped) {
			t.Errorf("%s: stripping changed the schema", c.source)
		}
		t.Logf("%s: %d -> %d bytes", c.source, len(c.data), len(s))
	}
}

func dropDescriptions(v any, inProperties bool) {
	switch t := v.(type) {
	case map[string]any:
		if !inProperties {
			delete(t, "description")
		}
		for k, x := range t {
			dropDescriptions(x, k == "properties" && !inProperties)
		}
	case []any:
		for _, x := range t {
			dropDescriptions(x, false)
		}
	}
}
