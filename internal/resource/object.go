package resource

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
)

type loader struct {
	opts     options
	set      *Set
	problems Problems
	pending  []unit // documents read, waiting for run()
	// inputCRDs are CustomResourceDefinitions found in the input itself: an extension's
	// CRDs shipped next to its objects validate those objects (after WithCRDs ones).
	inputCRDs *registry
	// seen records where each group/kind/namespace/name was first defined. The FIRST
	// definition wins and later ones are reported, as `kubectl create` would refuse them
	// ("already exists"); silently taking the last would hide a copy-paste mistake.
	seen map[string]string
	// read holds the real paths of the files read so far.
	read map[string]bool
	// inputs, when not nil, records the bytes read per file.
	inputs map[string][]byte
}

func newLoader(o options) *loader {
	return &loader{opts: o, set: &Set{}, seen: map[string]string{}, read: map[string]bool{}}
}

// docCtx locates problems: which file and document, and the node tree for line lookups.
type docCtx struct {
	file     string
	index    int
	root     *yaml.Node
	lineBase int
	dupKeys  []keyProblem
}

// objCtx labels the problems of one object.
type objCtx struct {
	doc    *docCtx
	prefix []pathElem // items[i] for objects inside a List
	kind   string
	ns     string
	name   string
	probs  []Problem
}

func (o *objCtx) add(fps ...fieldProblem) {
	for _, fp := range fps {
		full := append(clonePath(o.prefix), fp.path...)
		o.probs = append(o.probs, Problem{
			File: o.doc.file, Doc: o.doc.index,
			Line: lineOf(o.doc.root, full, o.doc.lineBase),
			Kind: o.kind, Namespace: o.ns, Name: o.name,
			Path: renderPath(full), Message: fp.msg,
		})
	}
}

func (o *objCtx) addMsg(path []pathElem, msg string) { o.add(fieldProblem{path: path, msg: msg}) }

// result is one checked object (or one document-level problem), produced by a worker
// and committed to the Set in input order by commit.
type result struct {
	o        *objCtx
	obj      checked
	key      string // group/kind/ns/name; "" when nothing is to be added
	nameLine int    // line of metadata.name, for a duplicate found at commit time
}

// object validates one decoded document (or List item). It only reads loader state, so
// documents can be checked concurrently; the Set is touched in commit.
func (l *loader) object(doc *docCtx, v any, prefix []pathElem, out *[]result) {
	o := &objCtx{doc: doc, prefix: prefix}
	r := result{o: o}
	defer func() {
		// Within an object, report in file order; the schema walk sees map order.
		sort.SliceStable(o.probs, func(i, j int) bool { return o.probs[i].Line < o.probs[j].Line })
		*out = append(*out, r)
	}()

	m, ok := v.(map[string]any)
	if !ok {
		o.addMsg(nil, fmt.Sprintf("expected an object with apiVersion and kind, got %s", typeName(v)))
		return
	}
	o.kind, _ = m["kind"].(string)
	if md, ok := m["metadata"].(map[string]any); ok {
		o.name, _ = md["name"].(string)
		o.ns, _ = md["namespace"].(string)
	}
	apiVersion, avOK := m["apiVersion"].(string)
	if !checkTypeMeta(o, m, "apiVersion", avOK && apiVersion != "") || !checkTypeMeta(o, m, "kind", o.kind != "") {
		return
	}
	if items, ok := m["items"].([]any); ok && strings.HasSuffix(o.kind, "List") {
		for i, it := range items {
			l.object(doc, it, append(clonePath(prefix), fieldElem("items"), indexElem(i)), out)
		}
		r.o = nil // the List itself is not an object
		return
	}
	gv, err := k8sschema.ParseGroupVersion(apiVersion)
	if err != nil {
		o.addMsg([]pathElem{fieldElem("apiVersion")}, field.Invalid(nil, apiVersion, "must be group/version").ErrorBody())
		return
	}
	gvk := gv.WithKind(o.kind)
	obj, key, ok := l.check(o, m, gvk)
	if len(prefix) == 0 {
		for _, dk := range doc.dupKeys { // strict decoding rejects duplicate keys
			o.probs = append(o.probs, Problem{File: doc.file, Doc: doc.index, Line: dk.line,
				Kind: o.kind, Namespace: o.ns, Name: o.name, Path: renderPath(dk.path), Message: dk.msg})
		}
	}
	if ok && len(o.probs) == 0 {
		r.obj, r.key = obj, key
		r.nameLine = lineOf(doc.root, append(clonePath(prefix), fieldElem("metadata"), fieldElem("name")), doc.lineBase)
	}
}

// commit adds a checked object to the Set unless an object with the same group, kind,
// namespace and name came first.
func (l *loader) commit(r result) {
	o := r.o
	if o == nil {
		return
	}
	if len(o.probs) == 0 && r.key != "" {
		where := fmt.Sprintf("%s#%d", o.doc.file, o.doc.index)
		if first, dup := l.seen[r.key]; dup {
			o.probs = append(o.probs, Problem{File: o.doc.file, Doc: o.doc.index, Line: r.nameLine,
				Kind: o.kind, Namespace: o.ns, Name: o.name,
				Path: renderPath(append(clonePath(o.prefix), fieldElem("metadata"), fieldElem("name"))),
				Message: fmt.Sprintf("Duplicate value: %s %s is already defined at %s; the first definition is kept",
					o.kind, nsName(o.ns, o.name), first)})
		} else {
			l.seen[r.key] = where
			r.obj.add(l.set)
		}
	}
	l.problems = append(l.problems, o.probs...)
}

func checkTypeMeta(o *objCtx, m map[string]any, name string, ok bool) bool {
	if ok {
		return true
	}
	if _, present := m[name]; present {
		o.addMsg([]pathElem{fieldElem(name)}, field.Invalid(nil, badValue(m[name]), "must be a non-empty string").ErrorBody())
	} else {
		o.addMsg([]pathElem{fieldElem(name)}, field.Required(nil, "").ErrorBody())
	}
	return false
}

// checked is a validated object waiting to be added (after the duplicate check).
type checked struct{ add func(*Set) }

// check validates m as gvk and decodes it. key is group/kind/ns/name, "" for ignored kinds.
func (l *loader) check(o *objCtx, m map[string]any, gvk k8sschema.GroupVersionKind) (checked, string, bool) {
	if l.opts.extraKinds[gvk] {
		return l.checkExtra(o, m, gvk)
	}
	e, known := kindTable[gkKey(gvk.Group, gvk.Kind)]
	if !known {
		msg := noMatch(gvk, nil)
		if kinds := kindsOfGroup(gvk.Group); gvk.Group != "" && len(kinds) > 0 {
			msg += "; kinds served in " + gvk.Group + ": " + strings.Join(kinds, ", ")
		}
		o.addMsg([]pathElem{fieldElem("kind")}, msg)
		return checked{}, "", false
	}
	namespaced := !e.clusterWide
	var sch *schema
	if e.crd {
		c, err := l.crdFor(gvk)
		if err != nil {
			o.addMsg(nil, err.Error())
			return checked{}, "", false
		}
		if sch = c.versions[gvk.Version]; sch == nil {
			o.addMsg([]pathElem{fieldElem("apiVersion")}, noMatch(gvk, c.served))
			return checked{}, "", false
		}
		namespaced = c.namespaced
	} else if !contains(e.versions, gvk.Version) {
		o.addMsg([]pathElem{fieldElem("apiVersion")}, noMatch(gvk, e.versions))
		return checked{}, "", false
	}
	ns, name, mp := checkMeta(m, gvk.Kind, namespaced, l.opts.defaultNS)
	o.ns, o.name = ns, name
	o.add(mp...)
	if e.newObj == nil {
		return checked{}, "", true // tolerated kind without a Go type (CRDs)
	}
	obj := e.newObj()
	if sch != nil {
		delete(m, "status") // ignored on create by the API server (status subresource)
		w := &walker{}
		w.walk(sch, m)
		sortFieldProblems(w.problems)
		o.add(w.problems...)
		if len(o.probs) > 0 {
			return checked{}, "", false
		}
		if err := decodeTyped(m, obj); err != nil {
			o.addMsg(nil, "cannot decode: "+err.Error())
			return checked{}, "", false
		}
	} else {
		if gvk.Kind == "Secret" {
			o.add(checkSecretData(m)...)
		}
		data, err := json.Marshal(m)
		if err != nil {
			o.addMsg(nil, "cannot encode: "+err.Error())
			return checked{}, "", false
		}
		strictErrs, err := sigsjson.UnmarshalStrict(data, obj)
		for _, se := range strictErrs {
			if fp := strictProblem(se, "", gvk.Kind); len(fp.path) == 0 || fp.path[0].key != "metadata" {
				o.add(fp) // metadata problems were reported by checkMeta already
			}
		}
		if err != nil {
			o.add(decodeProblem(err, "", gvk.Kind))
		}
	}
	if e.add == nil || len(o.probs) > 0 {
		return checked{}, "", len(o.probs) == 0
	}
	return checked{add: func(s *Set) { e.add(s, obj) }},
		strings.Join([]string{gvk.Group, gvk.Kind, ns, name}, "/"), true
}

// checkExtra handles a kind declared by an extension manager.
func (l *loader) checkExtra(o *objCtx, m map[string]any, gvk k8sschema.GroupVersionKind) (checked, string, bool) {
	namespaced := true
	var sch *schema
	c := l.opts.extraCRDs.lookup(gvk.Group, gvk.Kind)
	if c == nil {
		c = l.inputCRDs.lookup(gvk.Group, gvk.Kind)
	}
	if c != nil {
		if err := c.load(); err != nil {
			o.addMsg(nil, err.Error())
			return checked{}, "", false
		}
		if sch = c.versions[gvk.Version]; sch == nil {
			o.addMsg([]pathElem{fieldElem("apiVersion")}, noMatch(gvk, c.served))
			return checked{}, "", false
		}
		namespaced = c.namespaced
	}
	ns, name, mp := checkMeta(m, gvk.Kind, namespaced, l.opts.defaultNS)
	o.ns, o.name = ns, name
	o.add(mp...)
	if sch != nil {
		delete(m, "status")
		w := &walker{}
		w.walk(sch, m)
		sortFieldProblems(w.problems)
		o.add(w.problems...)
	}
	if len(o.probs) > 0 {
		return checked{}, "", false
	}
	u := &unstructured.Unstructured{Object: m}
	return checked{add: func(s *Set) { s.Extra = append(s.Extra, u) }},
		strings.Join([]string{gvk.Group, gvk.Kind, ns, name}, "/"), true
}

func (l *loader) crdFor(gvk k8sschema.GroupVersionKind) (*crd, error) {
	reg, err := builtinCRDs()
	if err != nil {
		return nil, fmt.Errorf("internal: embedded CRDs: %w", err)
	}
	c := reg.lookup(gvk.Group, gvk.Kind)
	if c == nil {
		return nil, fmt.Errorf("internal: no embedded CRD for %s", gvk.GroupKind())
	}
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("internal: %w", err)
	}
	return c, nil
}

// decodeTyped converts validated generic data into the Go type. The unstructured
// converter walks the maps by reflection (2.4x faster than a JSON round trip here); it
// ignores unknown fields, which is fine: the schema walk already vouched for every field.
func decodeTyped(m map[string]any, obj any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, obj)
}

// noMatch mirrors kubectl's wording, plus the versions that would work.
func noMatch(gvk k8sschema.GroupVersionKind, served []string) string {
	msg := fmt.Sprintf("no matches for kind %q in version %q", gvk.Kind, gvk.GroupVersion().String())
	if len(served) > 0 {
		vs := make([]string, len(served))
		for i, v := range served {
			vs[i] = k8sschema.GroupVersion{Group: gvk.Group, Version: v}.String()
		}
		msg += "; served versions: " + strings.Join(vs, ", ")
	}
	return msg
}

func (l *loader) sorted() Problems {
	if len(l.problems) == 0 {
		return nil
	}
	return l.problems
}

func typeName(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func nsName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// kindsOfGroup lists the kinds Portico loads in a group, sorted, for hints.
func kindsOfGroup(group string) []string {
	var out []string
	for _, e := range kindTable {
		if e.group == group && e.add != nil {
			out = append(out, e.kind)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
