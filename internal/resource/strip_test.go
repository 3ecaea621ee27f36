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

// A property named "description" is schema, not documentation: it must survive.
func TestStripKeepsPropertyNamedDescription(t *testing.T) {
	in := `spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        description: |-
          Drop me.
            Still me.
        properties:
          description:
            description: the field's doc
            type: string
          other:
            description: >
              folded
            type: integer
        type: object
`
	want := `spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        properties:
          description:
            type: string
          other:
            type: integer
        type: object
`
	if got := string(stripDescriptions([]byte(in))); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
