// Package file is the file provider: it loads resources from files and
// folders (as `portico x translate` does), watches them, and reloads after
// edits settle.
//
// Files are applied one by one. An edit that introduces problems in a file
// (bad YAML, a schema violation) holds that file back: its last good version
// keeps being served, because applying only its valid objects would
// silently drop the object being edited, which is exactly the one the user
// cares about. Edits of the other files are applied all the same, so one
// broken file never freezes the rest. Problems already present in files
// nobody touched (for example at startup) block nothing: those files' valid
// objects are served, as x translate would. A reload that would leave
// nothing at all is rejected.
//
// Only regular files are read (symbolic links are followed), each up to a
// size limit: a FIFO or a link to /dev/zero in a watched folder is
// reported, never read.
package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/portico-gw/portico/internal/provider"
	"github.com/portico-gw/portico/internal/resource"
)

// DefaultDebounce is how long the files must stay quiet before a reload:
// editors and `cp -r` produce bursts of events for one logical change, and
// the quiet period only has to outlast the gaps inside a burst. Measured
// on a loaded 2-core machine: `sed -i` spans 0.7 ms, appends to 100 files
// 2.8 ms, and `cp` or `tar -x` of 1000 files 1.4 s with no gap over 8.5 ms.
// 20 ms covers those gaps twice over; the delay from save to served
// configuration is the debounce plus a reload of a few tens of
// milliseconds, so the debounce is most of it (it was 200 ms, then 50).
// `portico run --debounce` raises it for writers that pause mid-change.
const DefaultDebounce = 20 * time.Millisecond

// Options configure a Provider.
type Options struct {
	// Paths are files or folders (searched recursively for *.yaml, *.yml
	// and *.json, hidden folders skipped).
	Paths []string
	// Debounce overrides DefaultDebounce.
	Debounce time.Duration
	// LoadOptions are passed to resource.Load.
	LoadOptions []resource.Option
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
}

// Update is the outcome of one load (shared with the other providers).
type Update = provider.Update

// Provider loads and watches Paths.
type Provider struct {
	opts Options
	log  *slog.Logger

	gen      int
	lastGood *resource.Set
	// good holds each file's content as last applied (a held file's last
	// good version); seen the digests of what the latest load read.
	good map[string][]byte
	seen map[string][32]byte
	// cache keeps each file's checked documents: a reload re-parses only
	// what changed (most reloads touch one file among many).
	cache *resource.Cache
}

// New returns a provider; nothing is read until Load or Run.
func New(o Options) *Provider {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Provider{opts: o, log: o.Logger, cache: resource.NewCache()}
}

// ErrEmpty rejects a reload that would serve no object at all.
var ErrEmpty = errors.New("the files hold no valid object any more; keeping the last good configuration")

// Load reads every path once and applies the per-file keep-last-good rule.
func (p *Provider) Load() Update {
	p.gen++
	u := Update{Generation: p.gen, Set: p.lastGood}
	set, probs, err := p.cache.Load(p.opts.Paths, p.opts.LoadOptions...)
	u.Problems = probs
	if err != nil {
		u.Err = err
		p.seen = nil
		return u
	}
	inputs := p.cache.Inputs()
	p.seen = p.cache.Sums()
	if p.lastGood != nil {
		if held := p.editedWithProblems(probs, inputs); len(held) > 0 {
			u.Err = fmt.Errorf("edited file(s) %s have problems; their last good version keeps serving",
				strings.Join(held, ", "))
			overrides := map[string][]byte{}
			for _, f := range held {
				overrides[f] = p.good[f] // nil for a new file: none of its objects
			}
			opts := append(slices.Clip(p.opts.LoadOptions), resource.WithOverrides(overrides))
			if set, _, err = p.cache.Load(p.opts.Paths, opts...); err != nil {
				u.Err = err
				return u
			}
			inputs = p.cache.Inputs()
			if sameInputs(inputs, p.good) {
				return u // nothing but the held files changed
			}
			u.Held = held
		}
	}
	if p.lastGood != nil && set.Len() == 0 {
		u.Err, u.Held = ErrEmpty, nil
		return u
	}
	p.lastGood, p.good = set, inputs
	u.Set, u.Applied = set, true
	return u
}

// editedWithProblems lists the files that have problems and whose content
// differs from the one last applied (stdin, read once, is never held).
func (p *Provider) editedWithProblems(probs resource.Problems, inputs map[string][]byte) []string {
	seen := map[string]bool{}
	var out []string
	for _, pr := range probs {
		if seen[pr.File] || pr.File == "-" {
			continue
		}
		seen[pr.File] = true
		old, had := p.good[pr.File]
		cur, has := inputs[pr.File]
		if had != has || !bytes.Equal(old, cur) {
			out = append(out, pr.File)
		}
	}
	return out
}

func sameInputs(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

// Run watches the paths and calls fn with the result of each reload, until
// ctx ends. It does not perform the initial load: call Load first.
func (p *Provider) Run(ctx context.Context, fn func(Update)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	ws := &watchSet{w: w, log: p.log, watched: map[string]bool{}, inputDirs: map[string]bool{}, files: map[string]bool{}}
	ws.refresh(p.opts.Paths)

	var timer *time.Timer
	var fire <-chan time.Time
	// An edit made between Load and the watches being set would otherwise
	// wait for the next edit: compare the files with what Load saw.
	if now, err := resource.Digests(p.opts.Paths, p.opts.LoadOptions...); err != nil || !maps.Equal(now, p.seen) {
		// No event names what changed then, and a same-sized rewrite
		// within a time stamp tick looks unchanged to a stat.
		p.cache.ChangedAll()
		timer = time.NewTimer(0)
		fire = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !ws.relevant(ev) {
				continue
			}
			p.log.Debug("file event", "event", ev.String())
			p.cache.Changed(ev.Name)
			if timer == nil {
				timer = time.NewTimer(p.opts.Debounce)
			} else {
				timer.Reset(p.opts.Debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			p.log.Warn("file watch error", "err", err)
			// Lost events (an overflow) cannot say what changed.
			p.cache.ChangedAll()
			if timer == nil {
				timer = time.NewTimer(p.opts.Debounce)
			} else {
				timer.Reset(p.opts.Debounce)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			// New folders may have appeared since the last scan.
			ws.refresh(p.opts.Paths)
			fn(p.Load())
		}
	}
}

// watchSet is what Run watches. Folders are watched, never files: editors
// save by writing a new file and renaming it over the old one, which ends a
// watch on the file itself. A file named explicitly is watched through its
// folder, and only events for that name count there.
type watchSet struct {
	w         *fsnotify.Watcher
	log       *slog.Logger
	watched   map[string]bool
	inputDirs map[string]bool // folders whose *.yaml etc. are input
	files     map[string]bool // files named explicitly
}

func (ws *watchSet) add(dir string) {
	if ws.watched[dir] {
		return
	}
	if err := ws.w.Add(dir); err != nil {
		ws.log.Warn("cannot watch folder", "path", dir, "err", err)
		return
	}
	ws.watched[dir] = true
}

func (ws *watchSet) refresh(paths []string) {
	for _, root := range paths {
		root = filepath.Clean(root)
		st, err := os.Stat(root)
		if err != nil || !st.IsDir() {
			// A file, or a path that does not exist yet (its creation
			// must be seen): watch the folder holding it.
			ws.files[root] = true
			ws.add(filepath.Dir(root))
			continue
		}
		for _, dir := range resource.InputFolders(root) {
			ws.inputDirs[dir] = true
			ws.add(dir)
		}
	}
}

// relevant filters out events that cannot change the input: editor swap and
// backup files, hidden files, other files beside an explicitly named one.
func (ws *watchSet) relevant(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	if ws.files[name] || ws.inputDirs[name] {
		return true
	}
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || !ws.inputDirs[filepath.Dir(name)] {
		return false
	}
	if resource.IsInputFile(base) {
		return true
	}
	// A new folder may hold input.
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		return true
	}
	return false
}
