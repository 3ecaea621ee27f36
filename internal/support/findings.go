package support

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Finding is a field set on an object that Portico does not support (NotYet)
// or that has no effect where it runs (NoEffect).
type Finding struct {
	Entry Entry
	// Path is the field with list indices: "spec.rules[1].sessionPersistence".
	Path string
}

// Findings returns the set fields of obj (a typed object, e.g. *gwapiv1.Gateway)
// that its kind's ledger rows mark NotYet or NoEffect, in ledger order then
// field order. A field counts as set when it holds a non-zero value (and, for
// an entry with Value, that value). The ledger test makes sure no such row
// contains another row, so a finding never hides a supported field.
//
// Only the rows of the kind are walked, each along its own path, so the cost
// is a few field lookups per row rather than a walk of the object.
func Findings(kind string, obj any) []Finding {
	var out []Finding
	root := reflect.ValueOf(obj)
	for _, e := range Ledger {
		if e.Kind != kind || e.State == Supported {
			continue
		}
		walkPath(root, strings.Split(e.Path, "."), "", func(concrete string, v reflect.Value) {
			if !isSet(v, e) {
				return
			}
			out = append(out, Finding{Entry: e, Path: concrete})
		})
	}
	return out
}

// walkPath follows segments (json names, "[]" for list elements) from v and
// calls found for every value at the end of the path, with its concrete path.
func walkPath(v reflect.Value, segs []string, prefix string, found func(string, reflect.Value)) {
	if len(segs) == 0 {
		found(prefix, v)
		return
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	name, list := strings.CutSuffix(segs[0], "[]")
	if v.Kind() != reflect.Struct {
		return
	}
	f, ok := fieldByJSONName(v, name)
	if !ok {
		return
	}
	p := name
	if prefix != "" {
		p = prefix + "." + name
	}
	if !list {
		walkPath(f, segs[1:], p, found)
		return
	}
	for f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return
		}
		f = f.Elem()
	}
	if f.Kind() != reflect.Slice {
		return
	}
	for i := range f.Len() {
		walkPath(f.Index(i), segs[1:], fmt.Sprintf("%s[%d]", p, i), found)
	}
}

// fieldByJSONName finds a struct field by its JSON name, looking into
// embedded (inline) structs as encoding/json does.
func fieldByJSONName(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		jsonName, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && (jsonName == "" || strings.Contains(tag, "inline")) {
			inner := v.Field(i)
			for inner.Kind() == reflect.Pointer {
				if inner.IsNil() {
					break
				}
				inner = inner.Elem()
			}
			if inner.Kind() == reflect.Struct {
				if f, ok := fieldByJSONName(inner, name); ok {
					return f, true
				}
			}
			continue
		}
		if jsonName == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// isSet reports whether a value counts as written by the user: a non-nil
// pointer does (`sessionPersistence: {}` asks for session persistence), as
// does any non-zero value.
func isSet(v reflect.Value, e Entry) bool {
	if !v.IsValid() || v.IsZero() {
		return false
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
		return false
	}
	if e.Value != "" {
		return v.Kind() == reflect.String && v.String() == e.Value
	}
	if v.IsZero() && v.Kind() != reflect.Struct {
		return false // a pointer to a zero scalar: not written
	}
	if e.Default != "" {
		if b, err := json.Marshal(v.Interface()); err == nil && string(b) == e.Default {
			return false
		}
	}
	return true
}

// Paths joins the concrete paths of findings, for messages.
func Paths(fs []Finding) string {
	ps := make([]string, len(fs))
	for i, f := range fs {
		ps[i] = f.Path
	}
	return strings.Join(ps, ", ")
}

// Select returns the findings whose entry has one of the states.
func Select(fs []Finding, states ...State) []Finding {
	var out []Finding
	for _, f := range fs {
		for _, s := range states {
			if f.Entry.State == s {
				out = append(out, f)
				break
			}
		}
	}
	return out
}
