package resource

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	yaml "go.yaml.in/yaml/v3"
)

// Load reads every path (a file, a folder searched recursively for *.yaml, *.yml and
// *.json in sorted order, or "-" for stdin), validates each object and returns the valid
// ones plus every problem found. The error is only for I/O: a missing path or an
// unreadable file; bad content is always a Problem, and never stops the other objects.
func Load(paths []string, opts ...Option) (*Set, Problems, error) {
	o := buildOptions(opts)
	if o.crdErr != nil {
		return nil, nil, o.crdErr
	}
	l := newLoader(o)
	for _, p := range paths {
		if err := l.loadPath(p); err != nil {
			return nil, nil, err
		}
	}
	l.run()
	return l.set, l.sorted(), nil
}

// LoadBytes loads one YAML stream; file names it in problems.
func LoadBytes(file string, data []byte, opts ...Option) (*Set, Problems) {
	o := buildOptions(opts)
	l := newLoader(o)
	if o.crdErr != nil {
		l.problems = append(l.problems, Problem{File: file, Message: o.crdErr.Error()})
	}
	l.loadData(file, data)
	l.run()
	return l.set, l.sorted()
}

func (l *loader) loadPath(p string) error {
	if p == "-" {
		in := l.opts.stdin
		if in == nil {
			in = os.Stdin
		}
		data, err := io.ReadAll(in)
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
		l.loadData("-", data)
		return nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		// A file named explicitly is read whatever its extension.
		return l.loadFile(p, true)
	}
	files, err := inputFiles(p)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := l.loadFile(f, false); err != nil {
			return err
		}
	}
	return nil
}

// loadFile reads one file unless another spelling of it was read already.
// A file that is not regular or too large is a Problem, not an I/O error:
// the other files still load.
func (l *loader) loadFile(path string, named bool) error {
	if !l.firstRead(path) {
		return nil
	}
	data, err := l.readFile(path, named)
	if err != nil {
		if pr, ok := problemOf(err); ok {
			l.problems = append(l.problems, pr)
			return nil
		}
		return err
	}
	l.loadData(path, data)
	return nil
}

// firstRead records path's real path and reports whether it is new: the
// same folder named by the configuration and by -f is read once, not
// turned into a duplicate of every object.
func (l *loader) firstRead(path string) bool {
	rp := realPath(path)
	if l.read[rp] {
		return false
	}
	l.read[rp] = true
	return true
}

// readFile is the file's bytes: its override when one is set, else what
// readInput allows.
func (l *loader) readFile(path string, named bool) ([]byte, error) {
	if data, ok := l.opts.overrides[path]; ok {
		return data, nil
	}
	return readInput(path, l.opts.maxFileSize, named && l.opts.pipes)
}

// unit is one document waiting to be checked.
type unit struct {
	file  string
	index int
	doc   document
}

func (l *loader) loadData(file string, data []byte) {
	if l.inputs != nil && file != "-" {
		l.inputs[file] = data
	}
	for i, d := range splitDocuments(data) {
		l.pending = append(l.pending, unit{file: file, index: i + 1, doc: d})
	}
}

// run checks every pending document, spreading them over the CPUs (YAML parsing and
// schema walks are independent per document and dominate the cost), then commits the
// results in input order, so the Set and the problems do not depend on scheduling.
func (l *loader) run() { l.runWith(l.loadDoc) }

// runWith is run with check in place of loadDoc (a Cache's answer).
func (l *loader) runWith(check func(unit) []result) {
	units := l.pending
	l.pending = nil
	if len(l.opts.extraKinds) > 0 {
		l.inputCRDs = &registry{}
		for _, u := range units {
			if bytes.Contains(u.doc.data, []byte("CustomResourceDefinition")) {
				// A broken CRD is reported as a problem of its own document below.
				_ = l.inputCRDs.add(fmt.Sprintf("%s#%d", u.file, u.index), u.doc.data)
			}
		}
	}
	results := make([][]result, len(units))
	workers := min(runtime.GOMAXPROCS(0), len(units)/4+1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(units) {
					return
				}
				results[i] = check(units[i])
			}
		}()
	}
	wg.Wait()
	for _, rs := range results {
		for _, r := range rs {
			l.commit(r)
		}
	}
}

// yaml.v3 reports "yaml: line N: msg" with N relative to the parsed document.
var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (l *loader) loadDoc(u unit) []result {
	d := u.doc
	doc := &docCtx{file: u.file, index: u.index, lineBase: d.firstLine - 1}
	fail := func(line int, msg string) []result {
		o := &objCtx{doc: doc}
		o.probs = []Problem{{File: u.file, Doc: u.index, Line: line, Message: msg}}
		return []result{{o: o}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(d.data, &root); err != nil {
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return fail(d.firstLine+n-1, "invalid YAML: "+m[2])
		}
		return fail(d.firstLine, "invalid YAML: "+strings.TrimPrefix(err.Error(), "yaml: "))
	}
	conv := &converter{lineBase: d.firstLine - 1}
	v, err := conv.convert(&root, nil, 0)
	if err != nil {
		return fail(d.firstLine, "invalid YAML: "+err.Error())
	}
	if v == nil {
		return nil // a document holding only "null" or "~" is empty
	}
	doc.root, doc.dupKeys = &root, conv.dupKeys
	var out []result
	l.object(doc, v, nil, &out)
	// Every problem has its line by now; let the node tree go before the other
	// documents are parsed (it is several times the size of the decoded object).
	doc.root = nil
	return out
}

// inputFiles lists the input files under the folder dir, sorted (WalkDir
// is lexical per folder; sorting makes the whole order explicit).
func inputFiles(dir string) ([]string, error) {
	var files []string
	err := walkInput(dir, false, func(path string, isDir bool) {
		if !isDir && IsInputFile(path) {
			files = append(files, path)
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

// InputFolders lists root and the folders under it that can hold input:
// the folders a file watcher must watch for Load to see every change.
// Unreadable folders are left out.
func InputFolders(root string) []string {
	var dirs []string
	_ = walkInput(root, true, func(path string, isDir bool) {
		if isDir {
			dirs = append(dirs, filepath.Clean(path))
		}
	})
	return dirs
}

// IsInputFile reports whether a file name is one Load reads from a folder
// (.yaml, .yml, .json, in any case).
func IsInputFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// walkInput visits the folders and files under dir the way Load reads a
// folder: hidden folders (.git, editor state) are skipped. A walk error
// stops it and is returned, unless keepGoing (then what cannot be read is
// left out).
func walkInput(dir string, keepGoing bool, visit func(path string, isDir bool)) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if keepGoing {
				return nil
			}
			return err
		}
		if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		visit(path, d.IsDir())
		return nil
	})
}
