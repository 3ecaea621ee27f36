package resource

import (
	"crypto/sha256"
	"slices"
	"strconv"
	"sync"
)

// Cache remembers the checked documents of the previous Load so that a reload
// parses and validates only the documents whose content changed. A document's
// outcome depends only on its file name, its position in the file, its bytes
// and the options, so a document found unchanged is given the previous
// outcome (the same typed objects: they must never be modified, as nothing
// does; the translators copy what they change). Everything after checking
// is redone from all documents on every Load: the Set and the problems,
// duplicates and deletions are exactly those of a fresh Load.
//
// A Cache must always be used with the same options. It keeps only the
// documents the latest Load read, so deleted files are forgotten.
type Cache struct {
	mu   sync.Mutex
	docs map[string]cachedDoc // "file#index" -> outcome
}

type cachedDoc struct {
	sum       [32]byte
	firstLine int
	results   []result
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{docs: map[string]cachedDoc{}} }

// Load is resource.Load, reusing what c remembers (c may be nil: no cache).
// With extra kinds, CustomResourceDefinitions in one file can change how
// another file's objects are checked, so nothing is reused then.
func (c *Cache) Load(paths []string, opts ...Option) (*Set, Problems, error) {
	o := buildOptions(opts)
	if c == nil || len(o.extraKinds) > 0 {
		return Load(paths, opts...)
	}
	if o.crdErr != nil {
		return nil, nil, o.crdErr
	}
	l := newLoader(o)
	for _, p := range paths {
		if err := l.loadPath(p); err != nil {
			return nil, nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var mu sync.Mutex
	next := make(map[string]cachedDoc, len(l.pending))
	l.runWith(func(u unit) []result {
		key := u.file + "#" + strconv.Itoa(u.index)
		sum := sha256.Sum256(u.doc.data)
		if d, ok := c.docs[key]; ok && d.sum == sum && d.firstLine == u.doc.firstLine {
			mu.Lock()
			next[key] = d
			mu.Unlock()
			return cloneResults(d.results)
		}
		rs := l.loadDoc(u)
		mu.Lock()
		next[key] = cachedDoc{sum: sum, firstLine: u.doc.firstLine, results: cloneResults(rs)}
		mu.Unlock()
		return rs
	})
	c.docs = next
	return l.set, l.sorted(), nil
}

// cloneResults copies what commit changes (an object's problems grow by a
// duplicate definition found at commit time).
func cloneResults(rs []result) []result {
	out := make([]result, len(rs))
	for i, r := range rs {
		if r.o != nil {
			o := *r.o
			o.probs = slices.Clip(o.probs)
			r.o = &o
		}
		out[i] = r
	}
	return out
}
