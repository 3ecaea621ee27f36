// Package status turns translated objects into what Kubernetes would show
// (apiVersion, kind, metadata, status), stamps condition transition times,
// and logs status changes. Translation is a pure function and leaves
// lastTransitionTime empty; the clock lives here, owned by the runtime.
package status

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/treeequal"
)

// Object is one object as `kubectl get -o json` would show it, without spec.
type Object struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Status     map[string]any `json:"status"`
}

// Key is "Kind namespace/name" (or "Kind name").
func (o Object) Key() string {
	ns, _ := o.Metadata["namespace"].(string)
	name, _ := o.Metadata["name"].(string)
	if ns == "" {
		return o.Kind + " " + name
	}
	return o.Kind + " " + ns + "/" + name
}

// apiVersions by Go package, for objects whose TypeMeta is empty.
var apiVersions = map[string]string{
	"sigs.k8s.io/gateway-api/apis/v1":            "gateway.networking.k8s.io/v1",
	"github.com/portico-gw/portico/api/v1alpha1": "gateway.envoyproxy.io/v1alpha1",
	"sigs.k8s.io/gateway-api/apis/v1alpha2":      "gateway.networking.k8s.io/v1alpha2",
	"sigs.k8s.io/gateway-api/apis/v1beta1":       "gateway.networking.k8s.io/v1beta1",
	"sigs.k8s.io/gateway-api/apisx/v1alpha1":     "gateway.networking.x-k8s.io/v1alpha1",
	"k8s.io/api/core/v1":                         "v1",
}

// FromResult collects every object of every slice field of result (a
// *gatewayapi.Result) whose elements are Kubernetes objects with a Status.
// Reflection keeps this in step with the translator: a kind it starts to
// return shows up in /status with no change here.
func FromResult(result any) ([]Object, error) {
	return fromResult(result, objectOf)
}

func fromResult(result any, conv func(reflect.Value) (Object, bool, error)) ([]Object, error) {
	v := reflect.ValueOf(result)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("status: %T is not a struct", result)
	}
	var out []Object
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Slice || !v.Type().Field(i).IsExported() {
			continue
		}
		for j := 0; j < f.Len(); j++ {
			o, ok, err := conv(f.Index(j))
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

func objectOf(e reflect.Value) (Object, bool, error) {
	if e.Kind() != reflect.Pointer || e.IsNil() || e.Elem().Kind() != reflect.Struct {
		return Object{}, false, nil
	}
	s := e.Elem()
	f := fieldsOf(s.Type())
	if f == nil {
		return Object{}, false, nil
	}
	meta, status := s.Field(f.meta), s.Field(f.status)
	o := Object{Kind: s.Type().Name(), APIVersion: apiVersions[s.Type().PkgPath()]}
	if f.typeMeta >= 0 {
		tm := s.Field(f.typeMeta)
		if k := tm.Field(f.kind).String(); k != "" {
			o.Kind = k
		}
		if av := tm.Field(f.apiVersion).String(); av != "" {
			o.APIVersion = av
		}
	}
	if err := roundTrip(meta.Interface(), &o.Metadata); err != nil {
		return Object{}, false, err
	}
	delete(o.Metadata, "managedFields")
	// Annotations can carry anything (kubectl's last-applied copy of a
	// Secret, for one); status output has no need for them.
	delete(o.Metadata, "annotations")
	if err := roundTrip(status.Interface(), &o.Status); err != nil {
		return Object{}, false, err
	}
	if o.Status == nil {
		o.Status = map[string]any{}
	}
	return o, true, nil
}

// statusFields are the field indices objectOf reads in one struct type:
// looking them up by name for every object of every publication was a
// tenth of it.
type statusFields struct {
	meta, status, typeMeta int // typeMeta -1: none
	kind, apiVersion       int // in TypeMeta
	namespace, name        int // in ObjectMeta
}

var fieldCache sync.Map // reflect.Type -> *statusFields (nil: not an object)

// fieldsOf is t's statusFields, nil when t has no ObjectMeta and Status
// (or an ObjectMeta without string Namespace and Name).
func fieldsOf(t reflect.Type) *statusFields {
	if v, ok := fieldCache.Load(t); ok {
		return v.(*statusFields)
	}
	var f *statusFields
	meta, okM := t.FieldByName("ObjectMeta")
	status, okS := t.FieldByName("Status")
	if okM && okS && len(meta.Index) == 1 && len(status.Index) == 1 && meta.Type.Kind() == reflect.Struct {
		ns, okN := meta.Type.FieldByName("Namespace")
		name, okName := meta.Type.FieldByName("Name")
		if okN && okName && len(ns.Index) == 1 && len(name.Index) == 1 &&
			ns.Type.Kind() == reflect.String && name.Type.Kind() == reflect.String {
			f = &statusFields{meta: meta.Index[0], status: status.Index[0], typeMeta: -1,
				namespace: ns.Index[0], name: name.Index[0]}
			if tm, ok := t.FieldByName("TypeMeta"); ok && len(tm.Index) == 1 && tm.Type.Kind() == reflect.Struct {
				k, okK := tm.Type.FieldByName("Kind")
				av, okA := tm.Type.FieldByName("APIVersion")
				if okK && okA && len(k.Index) == 1 && len(av.Index) == 1 &&
					k.Type.Kind() == reflect.String && av.Type.Kind() == reflect.String {
					f.typeMeta, f.kind, f.apiVersion = tm.Index[0], k.Index[0], av.Index[0]
				}
			}
		}
	}
	fieldCache.Store(t, f)
	return f
}

func roundTrip(in any, out *map[string]any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// Store remembers the last published statuses to keep transition times and
// to log what changed.
type Store struct {
	now  func() time.Time
	log  *slog.Logger
	prev map[string]Object
	// times holds lastTransitionTime per condition (object key, path, type)
	// together with the status it was stamped for.
	times map[string]stamp
	// memo holds, by source pointer, what PublishResults made of each object
	// last time, and src the source pointer of each key ("" when none or
	// when the key was seen twice).
	memo map[any]*memo
	src  map[string]any
	// spare holds the maps of the publication before last, cleared and
	// filled again by the next: allocating maps for 1000s of entries on
	// every publication was most of its garbage.
	spare *publication
}

// memo is one published object and the transition times stamped on it.
type memo struct {
	key   string
	obj   Object
	times []timed
}

type timed struct {
	ck string
	st stamp
}

type stamp struct {
	status string
	time   string
}

// NewStore returns a store; now is the clock (nil: time.Now).
func NewStore(now func() time.Time, log *slog.Logger) *Store {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Store{now: now, log: log, prev: map[string]Object{}, times: map[string]stamp{}}
}

// Publish stamps lastTransitionTime on every condition (kept while a
// condition's status is unchanged, as the API server's helpers do), logs
// each object whose status changed, and returns objs.
func (s *Store) Publish(objs []Object) []Object {
	p := s.start()
	for i := range objs {
		p.add(objs[i], nil)
	}
	p.finish()
	return objs
}

// PublishResults is Publish(FromResult of each result, concatenated), for
// a caller that publishes mostly the same objects again and again: an
// object (a pointer) published last time is not converted, stamped or
// compared again, its previous Object is reused. This is exactly what
// Publish would produce provided objects are never modified once
// published (translation results are copied, never changed): same status,
// so the same transition times and nothing to log.
func (s *Store) PublishResults(results ...any) ([]Object, error) {
	p := s.start()
	var out []Object
	var firstErr error
	var keyBuf []byte
	for _, result := range results {
		objs, err := fromResult(result, func(e reflect.Value) (Object, bool, error) {
			var ptr any
			if e.Kind() == reflect.Pointer && !e.IsNil() {
				ptr = e.Interface()
				if m, ok := s.memo[ptr]; ok && s.src[m.key] == ptr {
					p.reuse(m, ptr)
					return m.obj, true, nil
				}
				// A new translation copies every object again: one equal
				// to its key's object of last time converts the same.
				if key, ok := appendKey(keyBuf[:0], e); ok {
					keyBuf = key
					if old := s.src[string(key)]; old != nil && old != "" {
						ov := reflect.ValueOf(old)
						if m := s.memo[old]; m != nil && m.key == string(key) && ov.Type() == e.Type() &&
							sameInputs(ov, e, fieldsOf(e.Elem().Type())) {
							p.reuse(m, ptr)
							return m.obj, true, nil
						}
					}
				}
			}
			o, ok, err := objectOf(e)
			if err == nil && ok {
				p.add(o, ptr)
			}
			return o, ok, err
		})
		if err != nil && firstErr == nil {
			firstErr = err
		}
		out = append(out, objs...)
	}
	p.finish()
	return out, firstErr
}

// appendKey appends Object.Key of what objectOf makes of e to dst,
// without converting it; ok is false when e is not an object. Callers
// look maps up with string(key), which does not allocate.
func appendKey(dst []byte, e reflect.Value) (_ []byte, ok bool) {
	s := e.Elem()
	if s.Kind() != reflect.Struct {
		return dst, false
	}
	f := fieldsOf(s.Type())
	if f == nil {
		return dst, false
	}
	kind := ""
	if f.typeMeta >= 0 {
		kind = s.Field(f.typeMeta).Field(f.kind).String()
	}
	if kind == "" {
		kind = s.Type().Name()
	}
	meta := s.Field(f.meta)
	ns, name := meta.Field(f.namespace).String(), meta.Field(f.name).String()
	dst = append(append(dst, kind...), ' ')
	if ns != "" {
		dst = append(append(dst, ns...), '/')
	}
	return append(dst, name...), true
}

// sameInputs reports whether a and b (pointers to structs of one type
// with fields f) give the same Object: objectOf reads only their type
// meta, object meta and status, so the rest (a route's spec) is not
// compared.
func sameInputs(a, b reflect.Value, f *statusFields) bool {
	x, y := a.Elem(), b.Elem()
	if f.typeMeta >= 0 && !treeequal.EqualValues(x.Field(f.typeMeta), y.Field(f.typeMeta)) {
		return false
	}
	return treeequal.EqualValues(x.Field(f.meta), y.Field(f.meta)) && treeequal.EqualValues(x.Field(f.status), y.Field(f.status))
}

// publication is one Publish in progress.
type publication struct {
	s     *Store
	now   string
	times map[string]stamp
	seen  map[string]Object
	memo  map[any]*memo
	src   map[string]any
}

func (s *Store) start() *publication {
	now := s.now().UTC().Format(time.RFC3339)
	if p := s.spare; p != nil {
		s.spare = nil
		clear(p.times)
		clear(p.seen)
		clear(p.memo)
		clear(p.src)
		p.now = now
		return p
	}
	// Sized like the last publication's: growing maps of 1000s of
	// entries from empty was a third of a reload's status work.
	return &publication{s: s, now: now, times: make(map[string]stamp, len(s.times)),
		seen: make(map[string]Object, len(s.prev)), memo: make(map[any]*memo, len(s.memo)), src: make(map[string]any, len(s.src))}
}

func (p *publication) add(o Object, ptr any) {
	s := p.s
	key := o.Key()
	m := &memo{key: key}
	walkConditions(o.Status, "", func(path string, c map[string]any) {
		ck := key + "|" + path + "|" + sprint(c["type"])
		st := sprint(c["status"])
		old, ok := s.times[ck]
		if !ok || old.status != st {
			old = stamp{status: st, time: p.now}
		}
		c["lastTransitionTime"] = old.time
		p.times[ck] = old
		m.times = append(m.times, timed{ck, old})
	})
	if prev, ok := s.prev[key]; !ok || !equalJSON(prev.Status, o.Status) {
		s.log.Info("status", "object", key, "conditions", Summary(o.Status))
	}
	m.obj = o
	p.record(m, ptr)
}

func (p *publication) reuse(m *memo, ptr any) {
	for _, t := range m.times {
		p.times[t.ck] = t.st
	}
	p.record(m, ptr)
}

func (p *publication) record(m *memo, ptr any) {
	_, twice := p.seen[m.key]
	p.seen[m.key] = m.obj
	if twice || ptr == nil {
		p.src[m.key] = "" // never reused: only a key's sole object is
		return
	}
	p.src[m.key] = ptr
	p.memo[ptr] = m
}

func (p *publication) finish() {
	s := p.s
	if s.prev != nil && s.times != nil && s.memo != nil && s.src != nil {
		s.spare = &publication{s: s, seen: s.prev, times: s.times, memo: s.memo, src: s.src}
	}
	s.prev, s.times, s.memo, s.src = p.seen, p.times, p.memo, p.src
}

// walkConditions calls fn for each condition in any "conditions" list of
// v. path names the list: list elements are named by their "name" or
// "parentRef" field when they have one, so a reordering keeps the times.
func walkConditions(v any, path string, fn func(path string, c map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k == "conditions" {
				if list, ok := x[k].([]any); ok {
					for _, c := range list {
						if cm, ok := c.(map[string]any); ok {
							fn(path, cm)
						}
					}
				}
				continue
			}
			walkConditions(x[k], path+"."+k, fn)
		}
	case []any:
		for i, e := range x {
			id := strconv.Itoa(i)
			if m, ok := e.(map[string]any); ok {
				if n, ok := m["name"].(string); ok {
					id = n
				} else if pr, ok := m["parentRef"].(map[string]any); ok {
					id = refName(pr)
				}
			}
			walkConditions(e, path+"["+id+"]", fn)
		}
	}
}

// Summary renders the conditions of a status compactly for logs:
// "Accepted=True Programmed=False(Invalid: detail) listeners[http].Programmed=True".
func Summary(status map[string]any) string {
	var parts []string
	walkConditions(status, "", func(path string, c map[string]any) {
		p := strings.TrimPrefix(path, ".")
		if p != "" {
			p += "."
		}
		s := fmt.Sprintf("%s%v=%v", p, c["type"], c["status"])
		if c["status"] != "True" {
			s += fmt.Sprintf("(%v: %v)", c["reason"], c["message"])
		}
		parts = append(parts, s)
	})
	return strings.Join(parts, " ")
}

// refName names a parentRef "[namespace/]name[/sectionName][:port]".
func refName(ref map[string]any) string {
	s, _ := ref["name"].(string)
	if ns, ok := ref["namespace"].(string); ok && ns != "" {
		s = ns + "/" + s
	}
	if sn, ok := ref["sectionName"].(string); ok && sn != "" {
		s += "/" + sn
	}
	if p, ok := ref["port"]; ok {
		s += fmt.Sprintf(":%v", p)
	}
	return s
}

// sprint is fmt.Sprint, without its cost for the usual string.
func sprint(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// equalJSON is reflect.DeepEqual for what encoding/json decodes into an
// any (maps, slices, strings, float64s, bools, nils), without reflection.
func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || (x == nil) != (y == nil) || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equalJSON(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || (x == nil) != (y == nil) || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case string, float64, bool, nil:
		return a == b
	default:
		return reflect.DeepEqual(a, b)
	}
}
