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
	meta, status, tm := s.FieldByName("ObjectMeta"), s.FieldByName("Status"), s.FieldByName("TypeMeta")
	if !meta.IsValid() || !status.IsValid() {
		return Object{}, false, nil
	}
	o := Object{Kind: s.Type().Name(), APIVersion: apiVersions[s.Type().PkgPath()]}
	if tm.IsValid() {
		if k := tm.FieldByName("Kind").String(); k != "" {
			o.Kind = k
		}
		if av := tm.FieldByName("APIVersion").String(); av != "" {
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
				if key, ok := keyOf(e); ok {
					if old := s.src[key]; old != nil && old != "" {
						if m := s.memo[old]; m != nil && m.key == key && treeequal.Equal(old, ptr) {
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

// keyOf is Object.Key of what objectOf makes of e, without converting it.
func keyOf(e reflect.Value) (string, bool) {
	s := e.Elem()
	if s.Kind() != reflect.Struct {
		return "", false
	}
	meta := s.FieldByName("ObjectMeta")
	if !meta.IsValid() || !s.FieldByName("Status").IsValid() {
		return "", false
	}
	kind := s.Type().Name()
	if tm := s.FieldByName("TypeMeta"); tm.IsValid() {
		if k := tm.FieldByName("Kind").String(); k != "" {
			kind = k
		}
	}
	ns, name := meta.FieldByName("Namespace"), meta.FieldByName("Name")
	if ns.Kind() != reflect.String || name.Kind() != reflect.String {
		return "", false
	}
	if ns.String() == "" {
		return kind + " " + name.String(), true
	}
	return kind + " " + ns.String() + "/" + name.String(), true
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
	// Sized like the last publication's: growing maps of 1000s of
	// entries from empty was a third of a reload's status work.
	return &publication{s: s, now: s.now().UTC().Format(time.RFC3339), times: make(map[string]stamp, len(s.times)),
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
	p.s.prev, p.s.times, p.s.memo, p.s.src = p.seen, p.times, p.memo, p.src
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
