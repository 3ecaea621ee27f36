package resource

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
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
	sums map[string][32]byte  // file -> SHA-256 of what the latest Load read
	// files are the bytes the latest Load read, with the size and
	// modification time they had, so that a reload of a large folder reads
	// only what changed. A time stamp alone is not trusted (the kernel's is
	// coarse: two same-sized writes a few milliseconds apart can share
	// one), so a watcher also names what changed through Changed.
	files    map[string]cachedFile
	changed  map[string]bool
	allDirty bool
	// inputs are the bytes the latest Load used per file (overrides
	// included), for a caller that keeps a file's last good version.
	inputs map[string][]byte
}

type cachedFile struct {
	size int64
	mod  time.Time
	data []byte
	sum  [32]byte
}

type cachedDoc struct {
	sum       [32]byte
	firstLine int
	results   []result
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{docs: map[string]cachedDoc{}, files: map[string]cachedFile{}, changed: map[string]bool{}}
}

// Changed says that path (a file, or a folder: everything under it) may
// have changed since the latest Load, which must then read it again.
func (c *Cache) Changed(path string) {
	c.mu.Lock()
	c.changed[filepath.Clean(path)] = true
	c.mu.Unlock()
}

// ChangedAll makes the next Load read every file (a watcher that lost
// events cannot say which).
func (c *Cache) ChangedAll() {
	c.mu.Lock()
	c.allDirty = true
	c.mu.Unlock()
}

// dirty reports whether path was named by Changed, itself or through a
// folder holding it.
func (c *Cache) dirty(changed map[string]bool, all bool, path string) bool {
	if all {
		return true
	}
	if len(changed) == 0 {
		return false
	}
	path = filepath.Clean(path)
	if changed[path] {
		return true
	}
	// A watcher names a handful of paths per reload: checking each as a
	// folder holding path is cheaper than walking path's 10 parents.
	for p := range changed {
		if len(path) > len(p) && strings.HasPrefix(path, p) && (p == string(filepath.Separator) || path[len(p)] == filepath.Separator) {
			return true
		}
	}
	return false
}

// Load is resource.Load, reusing what c remembers (c may be nil: no cache).
// With extra kinds, CustomResourceDefinitions in one file can change how
// another file's objects are checked, so nothing is reused then.
func (c *Cache) Load(paths []string, opts ...Option) (*Set, Problems, error) {
	o := buildOptions(opts)
	if c == nil {
		return Load(paths, opts...)
	}
	if len(o.extraKinds) > 0 {
		return c.loadAll(paths, o)
	}
	if o.crdErr != nil {
		return nil, nil, o.crdErr
	}
	l := newLoader(o)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sums, c.inputs = nil, nil
	sums := map[string][32]byte{}
	inputs := map[string][]byte{}
	changed, all := c.changed, c.allDirty
	c.changed, c.allDirty = map[string]bool{}, false
	files := map[string]cachedFile{}
	for _, p := range paths {
		if err := c.loadPath(l, p, sums, inputs, files, changed, all); err != nil {
			// What was not read must be read next time.
			c.allDirty = true
			return nil, nil, err
		}
	}
	c.sums, c.files, c.inputs = sums, files, inputs
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

// loadAll is a Load that reuses nothing but still records what it read.
func (c *Cache) loadAll(paths []string, o options) (*Set, Problems, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sums, c.inputs = nil, nil
	if o.crdErr != nil {
		return nil, nil, o.crdErr
	}
	l := newLoader(o)
	l.inputs = map[string][]byte{}
	for _, p := range paths {
		if err := l.loadPath(p); err != nil {
			return nil, nil, err
		}
	}
	l.run()
	c.sums = map[string][32]byte{}
	for f, data := range l.inputs {
		c.sums[f] = sha256.Sum256(data)
	}
	c.inputs = l.inputs
	return l.set, l.sorted(), nil
}

// Sums are the SHA-256 digests of the files the latest Load read (by path
// as in Problem.File; stdin excluded), nil after a Load that failed. The
// map is the caller's.
func (c *Cache) Sums() map[string][32]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.sums)
}

// Inputs are the bytes the latest Load used, by file (as in Problem.File;
// stdin excluded), nil after a Load that failed. The slices must not be
// modified.
func (c *Cache) Inputs() map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.inputs)
}

// loadPath is loader.loadPath, also recording each file's digest: one read
// serves both the loader and the caller's record of what was loaded. A file
// not named by Changed whose size and time stamp are those of the latest
// Load is not read again.
func (c *Cache) loadPath(l *loader, p string, sums map[string][32]byte, inputs map[string][]byte, seen map[string]cachedFile, changed map[string]bool, all bool) error {
	if p == "-" {
		return l.loadPath(p)
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	read := func(path string, fst fs.FileInfo, named bool) error {
		if !l.firstRead(path) {
			return nil
		}
		if data, ok := l.opts.overrides[path]; ok {
			// Not remembered as the file's content: the next Load reads
			// the file itself again.
			sums[path], inputs[path] = sha256.Sum256(data), data
			l.loadData(path, data)
			return nil
		}
		f, ok := c.files[path]
		if !ok || f.size != fst.Size() || !f.mod.Equal(fst.ModTime()) || c.dirty(changed, all, path) {
			data, err := l.readFile(path, named)
			if err != nil {
				if pr, ok := problemOf(err); ok {
					l.problems = append(l.problems, pr)
					return nil
				}
				return err
			}
			// The stat before the read: a write in between shows as a
			// changed time stamp next time, never as a stale one.
			f = cachedFile{size: fst.Size(), mod: fst.ModTime(), data: data, sum: sha256.Sum256(data)}
		}
		seen[path] = f
		sums[path], inputs[path] = f.sum, f.data
		l.loadData(path, f.data)
		return nil
	}
	if !st.IsDir() {
		return read(p, st, true) // a file named explicitly is read whatever its extension
	}
	files, err := inputFiles(p)
	if err != nil {
		return err
	}
	infos, err := statAll(files)
	if err != nil {
		return err
	}
	for i, f := range files {
		if err := read(f, infos[i], false); err != nil {
			return err
		}
	}
	return nil
}

// statAll stats the files on all cores: a reload of 1000 unchanged files
// is mostly these system calls, which are independent.
func statAll(files []string) ([]fs.FileInfo, error) {
	infos := make([]fs.FileInfo, len(files))
	errs := make([]error, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(files); i += workers {
				infos[i], errs[i] = os.Stat(files[i])
			}
		}()
	}
	wg.Wait()
	return infos, errors.Join(errs...)
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
