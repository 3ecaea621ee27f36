package support

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
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
	rows := compiledRows()[kind]
	if len(rows) == 0 {
		return nil
	}
	indices := make([]int, 0, 8) // list indices on the way down, reused
	for i := range rows {
		walkPath(root, &rows[i], rows[i].segs, indices, &out)
	}
	return out
}

// compiledRow is a NotYet or NoEffect row with its path split once.
type compiledRow struct {
	entry Entry
	segs  []segment
}

type segment struct {
	name string
	list bool
}

var (
	compileOnce sync.Once
	compiled    map[string][]compiledRow
)

// compiledRows returns the rows that produce findings, by kind. The ledger
// is a constant table, so this is computed once.
func compiledRows() map[string][]compiledRow {
	compileOnce.Do(func() {
		compiled = map[string][]compiledRow{}
		for _, e := range Ledger {
			if e.State == Supported {
				continue
			}
			var segs []segment
			for _, s := range strings.Split(e.Path, ".") {
				name, list := strings.CutSuffix(s, "[]")
				segs = append(segs, segment{name: name, list: list})
			}
			compiled[e.Kind] = append(compiled[e.Kind], compiledRow{entry: e, segs: segs})
		}
	})
	return compiled
}

// walkPath follows the row's remaining segments from v and adds a finding
// for every value set at the end of the path, with the list indices taken on
// the way.
func walkPath(v reflect.Value, row *compiledRow, segs []segment, indices []int, out *[]Finding) {
	if len(segs) == 0 {
		if isSet(v, row.entry) {
			*out = append(*out, Finding{Entry: row.entry, Path: concretePath(row.segs, indices)})
		}
		return
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	f, ok := fieldByJSONName(v, segs[0].name)
	if !ok {
		return
	}
	if !segs[0].list {
		walkPath(f, row, segs[1:], indices, out)
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
		walkPath(f.Index(i), row, segs[1:], append(indices, i), out)
	}
}

// concretePath writes the path with its list indices: spec.rules[1].name.
func concretePath(segs []segment, indices []int) string {
	var b strings.Builder
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
		if s.list && len(indices) > 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(indices[0]))
			b.WriteByte(']')
			indices = indices[1:]
		}
	}
	return b.String()
}

// fieldIndex caches, per struct type and JSON name, the index path of the
// field (through inline embedded structs), or nil when there is none. Keyed
// by the reflect.Type itself, a lookup allocates nothing.
var fieldIndex = struct {
	sync.RWMutex
	m map[reflect.Type]map[string][]int
}{m: map[reflect.Type]map[string][]int{}}

func cachedFieldIndex(t reflect.Type, name string) []int {
	fieldIndex.RLock()
	idx, ok := fieldIndex.m[t][name]
	fieldIndex.RUnlock()
	if ok {
		return idx
	}
	idx = jsonFieldIndex(t, name)
	fieldIndex.Lock()
	if fieldIndex.m[t] == nil {
		fieldIndex.m[t] = map[string][]int{}
	}
	fieldIndex.m[t][name] = idx
	fieldIndex.Unlock()
	return idx
}

// fieldByJSONName finds a struct field by its JSON name, looking into
// embedded (inline) structs as encoding/json does.
func fieldByJSONName(v reflect.Value, name string) (reflect.Value, bool) {
	path := cachedFieldIndex(v.Type(), name)
	if path == nil {
		return reflect.Value{}, false
	}
	for _, i := range path {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, true
}

func jsonFieldIndex(t reflect.Type, name string) []int {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		jsonName, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && (jsonName == "" || strings.Contains(tag, "inline")) {
			inner := sf.Type
			for inner.Kind() == reflect.Pointer {
				inner = inner.Elem()
			}
			if inner.Kind() == reflect.Struct {
				if sub := jsonFieldIndex(inner, name); sub != nil {
					return append([]int{i}, sub...)
				}
			}
			continue
		}
		if jsonName == name {
			return []int{i}
		}
	}
	return nil
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
