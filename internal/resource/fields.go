package resource

import (
	"fmt"
	"sort"
)

// LoadedKind is a CRD-backed kind the loader accepts into a Set.
type LoadedKind struct {
	Group, Kind string
}

// LoadedKinds lists the CRD-backed kinds whose objects reach a Set, sorted by
// group then kind. Kinds that are only tolerated (Deployments, ...) and core
// kinds (no CRD schema) are not in it.
func LoadedKinds() []LoadedKind {
	var out []LoadedKind
	for _, e := range kindTable {
		if e.crd && e.add != nil {
			out = append(out, LoadedKind{Group: e.group, Kind: e.kind})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// SchemaFields returns every field path under spec in the embedded CRD schema of a
// kind, over all its served versions: "spec.rules[].matches[].path.type". A list adds
// "[]" to its field's name; a map (additionalProperties) and a field that keeps
// unknown fields are leaves. The support ledger (internal/support) is checked
// against these paths.
func SchemaFields(group, kind string) ([]string, error) {
	reg, err := builtinCRDs()
	if err != nil {
		return nil, err
	}
	c := reg.lookup(group, kind)
	if c == nil {
		return nil, fmt.Errorf("no CRD for %s/%s", group, kind)
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, v := range c.served {
		if spec := c.versions[v].props["spec"]; spec != nil {
			collectFields(spec, "spec", seen, 0)
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// maxFieldDepth stops the walk of a recursive schema; CRD schemas are not
// recursive today, so reaching it means a schema changed shape.
const maxFieldDepth = 40

func collectFields(s *schema, path string, seen map[string]bool, depth int) {
	if depth > maxFieldDepth {
		return
	}
	for s.items != nil { // a list of lists keeps one "[]" per level
		path += "[]"
		s = s.items
	}
	for _, name := range s.propNames {
		p := path + "." + name
		seen[p] = true
		collectFields(s.props[name], p, seen, depth+1)
	}
	for _, branch := range [][]*schema{s.allOf, s.anyOf, s.oneOf} {
		for _, b := range branch {
			collectFields(b, path, seen, depth+1)
		}
	}
}
