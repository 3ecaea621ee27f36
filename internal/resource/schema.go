package resource

import (
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// schema is a compiled openAPIV3Schema node. Only what the API server enforces for
// structural CRD schemas is kept; descriptions and printer columns are dropped at
// compile time, so the walk touches small structs instead of generic maps.
//
// x-kubernetes-validations (CEL) rules are NOT evaluated: compiling CEL would pull in
// cel-go and cost far more than the rest of validation (the Gateway API CRDs carry 122
// rules). The translators re-check the semantics that matter to them.
type schema struct {
	typ         string // object, array, string, integer, number, boolean, or "" (any)
	nullable    bool
	intOrString bool
	preserve    bool // x-kubernetes-preserve-unknown-fields
	embedded    bool // x-kubernetes-embedded-resource

	props      map[string]*schema
	propNames  []string // sorted; for "did you mean" hints
	defaulted  []string // properties that carry a default, sorted
	required   []string
	additional *schema // additionalProperties as a schema
	addAny     bool    // additionalProperties: true
	items      *schema

	enum       []any
	hasDefault bool
	def        any

	minLen, maxLen     int64 // -1 when unset
	minItems, maxItems int64
	minProps, maxProps int64
	minimum, maximum   *float64
	exclMin, exclMax   bool
	pattern            *regexp.Regexp
	format             string

	listType    string // atomic, set, map
	listMapKeys []string

	allOf, anyOf, oneOf []*schema
	not                 *schema
}

// compiler turns generic schema maps into schema trees, sharing regexps: the Gateway API
// CRDs repeat the same few patterns hundreds of times.
type compiler struct{}

var regexpCache sync.Map // pattern -> *regexp.Regexp, shared across CRDs

func (c *compiler) compile(m map[string]any) (*schema, error) {
	s := &schema{minLen: -1, maxLen: -1, minItems: -1, maxItems: -1, minProps: -1, maxProps: -1}
	s.typ, _ = m["type"].(string)
	s.nullable, _ = m["nullable"].(bool)
	s.intOrString, _ = m["x-kubernetes-int-or-string"].(bool)
	s.preserve, _ = m["x-kubernetes-preserve-unknown-fields"].(bool)
	s.embedded, _ = m["x-kubernetes-embedded-resource"].(bool)
	s.format, _ = m["format"].(string)
	s.listType, _ = m["x-kubernetes-list-type"].(string)
	for _, k := range toStrings(m["x-kubernetes-list-map-keys"]) {
		s.listMapKeys = append(s.listMapKeys, k)
	}
	s.required = toStrings(m["required"])
	if e, ok := m["enum"].([]any); ok {
		s.enum = e
	}
	if d, ok := m["default"]; ok {
		s.hasDefault, s.def = true, normalizeNumbers(d)
	}
	s.minLen = intOr(m["minLength"], -1)
	s.maxLen = intOr(m["maxLength"], -1)
	s.minItems = intOr(m["minItems"], -1)
	s.maxItems = intOr(m["maxItems"], -1)
	s.minProps = intOr(m["minProperties"], -1)
	s.maxProps = intOr(m["maxProperties"], -1)
	s.minimum = floatPtr(m["minimum"])
	s.maximum = floatPtr(m["maximum"])
	s.exclMin, _ = m["exclusiveMinimum"].(bool)
	s.exclMax, _ = m["exclusiveMaximum"].(bool)
	if p, ok := m["pattern"].(string); ok {
		re, err := compileRegexp(p)
		if err != nil {
			return nil, err
		}
		s.pattern = re
	}
	if props, ok := m["properties"].(map[string]any); ok {
		s.props = make(map[string]*schema, len(props))
		for name, pm := range props {
			sub, err := c.child(pm, name)
			if err != nil {
				return nil, err
			}
			s.props[name] = sub
			s.propNames = append(s.propNames, name)
			if sub.hasDefault {
				s.defaulted = append(s.defaulted, name)
			}
		}
		sort.Strings(s.propNames)
		sort.Strings(s.defaulted)
	}
	switch ap := m["additionalProperties"].(type) {
	case bool:
		s.addAny = ap
	case map[string]any:
		sub, err := c.child(ap, "additionalProperties")
		if err != nil {
			return nil, err
		}
		s.additional = sub
	}
	if it, ok := m["items"]; ok {
		sub, err := c.child(it, "items")
		if err != nil {
			return nil, err
		}
		s.items = sub
	}
	var err error
	if s.allOf, err = c.list(m["allOf"], "allOf"); err != nil {
		return nil, err
	}
	if s.anyOf, err = c.list(m["anyOf"], "anyOf"); err != nil {
		return nil, err
	}
	if s.oneOf, err = c.list(m["oneOf"], "oneOf"); err != nil {
		return nil, err
	}
	if n, ok := m["not"]; ok {
		if s.not, err = c.child(n, "not"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (c *compiler) child(v any, what string) (*schema, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: schema must be an object, got %T", what, v)
	}
	s, err := c.compile(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

func (c *compiler) list(v any, what string) ([]*schema, error) {
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a list", what)
	}
	out := make([]*schema, 0, len(items))
	for i, it := range items {
		s, err := c.child(it, fmt.Sprintf("%s[%d]", what, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func compileRegexp(p string) (*regexp.Regexp, error) {
	if re, ok := regexpCache.Load(p); ok {
		return re.(*regexp.Regexp), nil
	}
	// Go's RE2 is what the API server uses for CRD patterns too, so semantics match.
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", p, err)
	}
	regexpCache.Store(p, re)
	return re, nil
}

func toStrings(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func intOr(v any, def int64) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	case uint64:
		return int64(n)
	case float64:
		return int64(n)
	}
	return def
}

func floatPtr(v any) *float64 {
	var f float64
	switch n := v.(type) {
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case uint64:
		f = float64(n)
	case float64:
		f = n
	default:
		return nil
	}
	return &f
}

// normalizeNumbers makes default values use the same number types as loaded documents
// (int64/float64), so defaulted and written values look alike to the decoder.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case int:
		return int64(t)
	case uint64:
		return int64(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = normalizeNumbers(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalizeNumbers(x)
		}
		return out
	}
	return v
}
