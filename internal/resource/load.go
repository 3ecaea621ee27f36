package resource

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

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
		return l.loadFile(p)
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Hidden folders (.git, editor state) are never input.
			if path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files) // WalkDir is lexical per folder; sort makes the whole order explicit
	for _, f := range files {
		if err := l.loadFile(f); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	l.loadData(path, data)
	return nil
}

func (l *loader) loadData(file string, data []byte) {
	for i, d := range splitDocuments(data) {
		l.loadDoc(file, i+1, d)
	}
}

// yaml.v3 reports "yaml: line N: msg" with N relative to the parsed document.
var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (l *loader) loadDoc(file string, docIdx int, d document) {
	base := Problem{File: file, Doc: docIdx}
	var root yaml.Node
	if err := yaml.Unmarshal(d.data, &root); err != nil {
		p := base
		p.Line = d.firstLine
		p.Message = "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			p.Line = d.firstLine + n - 1
			p.Message = "invalid YAML: " + m[2]
		}
		l.problems = append(l.problems, p)
		return
	}
	conv := &converter{lineBase: d.firstLine - 1}
	v, err := conv.convert(&root, nil, 0)
	if err != nil {
		p := base
		p.Line = d.firstLine
		p.Message = "invalid YAML: " + err.Error()
		l.problems = append(l.problems, p)
		return
	}
	if v == nil {
		return // a document holding only "null" or "~" is empty
	}
	doc := &docCtx{file: file, index: docIdx, root: &root, lineBase: d.firstLine - 1, dupKeys: conv.dupKeys}
	l.object(doc, v, nil)
}
