package resource

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// The loader parses each document into a yaml.Node tree (which keeps line numbers) and
// converts it to the generic JSON-like form the validator walks: map[string]any,
// []any, string, int64, float64, bool, nil. Keeping the node tree lets problems carry
// the line they are on without paying for a line table on the happy path.
//
// Scalars resolve with YAML 1.2 core rules (go.yaml.in/yaml/v3): only true/false are
// booleans, so `on`/`yes` stay strings. kubectl (YAML 1.1) would turn them into booleans;
// the schema then reports a type error where kubectl would, just with a clearer value.

const (
	maxDepth = 256     // nesting limit, guards against stack exhaustion on hostile input
	maxNodes = 1 << 20 // node budget per document, guards against alias bombs
)

type converter struct {
	nodes    int
	lineBase int // added to node lines to make them file lines
	dupKeys  []keyProblem
}

type keyProblem struct {
	path []pathElem
	line int
	msg  string
}

// convertDoc turns a parsed document into generic values. Duplicate mapping keys are
// recorded (the API server rejects them in strict mode) and the last value wins.
func (c *converter) convert(n *yaml.Node, path []pathElem, depth int) (any, error) {
	c.nodes++
	if c.nodes > maxNodes {
		return nil, fmt.Errorf("document too large (more than %d nodes after expanding aliases)", maxNodes)
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("document nested deeper than %d levels", maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], path, depth+1)
	case yaml.AliasNode:
		return c.convert(n.Alias, path, depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		if err := c.fillMap(m, n, path, depth); err != nil {
			return nil, err
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := c.convert(item, append(path, pathElem{index: i}), depth+1)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line+c.lineBase)
}

func (c *converter) fillMap(m map[string]any, n *yaml.Node, path []pathElem, depth int) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			// "<<: *anchor" merges the anchored mapping(s); explicit keys win, as in YAML.
			if err := c.merge(m, v, path, depth); err != nil {
				return err
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: mapping keys must be scalars", k.Line+c.lineBase)
		}
		key := k.Value
		if _, dup := m[key]; dup {
			c.dupKeys = append(c.dupKeys, keyProblem{
				path: append(append([]pathElem(nil), path...), pathElem{key: key, index: -1}),
				line: k.Line + c.lineBase,
				msg:  fmt.Sprintf("duplicate field %q", key),
			})
		}
		val, err := c.convert(v, append(path, pathElem{key: key, index: -1}), depth+1)
		if err != nil {
			return err
		}
		m[key] = val
	}
	return nil
}

func (c *converter) merge(m map[string]any, v *yaml.Node, path []pathElem, depth int) error {
	for v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	srcs := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		srcs = v.Content
	}
	for _, src := range srcs {
		for src.Kind == yaml.AliasNode {
			src = src.Alias
		}
		if src.Kind != yaml.MappingNode {
			return fmt.Errorf("line %d: merge key needs a mapping", v.Line+c.lineBase)
		}
		tmp := map[string]any{}
		if err := c.fillMap(tmp, src, path, depth+1); err != nil {
			return err
		}
		for k, val := range tmp {
			if _, ok := m[k]; !ok {
				m[k] = val
			}
		}
	}
	return nil
}

var yamlIntRe = regexp.MustCompile(`^[-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9_]+)$`)

func (c *converter) scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			return strings.EqualFold(n.Value, "true"), nil
		}
		return b, nil
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return i, nil
		}
		if yamlIntRe.MatchString(n.Value) {
			s := strings.ReplaceAll(n.Value, "_", "")
			s = strings.Replace(s, "0o", "0", 1)
			if i, err := strconv.ParseInt(s, 0, 64); err == nil {
				return i, nil
			}
		}
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f, nil // out of int64 range: JSON would make it a float too
		}
		return n.Value, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return n.Value, nil
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// The literal is not echoed: it could sit in a Secret.
			return nil, fmt.Errorf("line %d: NaN and infinite numbers cannot be represented in JSON", n.Line+c.lineBase)
		}
		return f, nil
	}
	// !!str, !!timestamp, !!binary and custom tags: keep the text, as JSON would.
	return n.Value, nil
}

// lineOf finds the line of the deepest node along path in the document, so a problem on
// a field that is missing (or was defaulted) points at its parent.
func lineOf(root *yaml.Node, path []pathElem, lineBase int) int {
	n := root
	for n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil {
		return 0
	}
	line := n.Line
	for _, e := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch {
		case e.index >= 0 && n.Kind == yaml.SequenceNode && e.index < len(n.Content):
			next = n.Content[e.index]
		case e.index < 0 && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == e.key {
					next = n.Content[i+1]
					// The key's line, not the value's: a nested block starts below
					// its key, and the key is what a reader looks for.
					line = n.Content[i].Line
				}
			}
		}
		if next == nil {
			break
		}
		n = next
		if e.index >= 0 {
			line = n.Line
		}
	}
	if line == 0 {
		return 0
	}
	return line + lineBase
}
