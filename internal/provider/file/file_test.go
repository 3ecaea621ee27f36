package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

func configMap(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: default\ndata:\n  k: " + value + "\n"
}

func write(t *testing.T, path, data string) {
	t.Helper()
	// Write then rename, as editors do, so a reader never sees half a file.
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func value(u Update, name string) string {
	if u.Set == nil {
		return ""
	}
	for _, cm := range u.Set.ConfigMaps {
		if cm.Name == name {
			return cm.Data["k"]
		}
	}
	return ""
}

func TestBadEditKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	write(t, a, configMap("a", "one"))
	write(t, b, configMap("b", "one"))
	p := New(Options{Paths: []string{dir}})
	u := p.Load()
	if !u.Applied || value(u, "a") != "one" || value(u, "b") != "one" {
		t.Fatalf("initial load: %+v", u)
	}

	write(t, a, "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")
	u = p.Load()
	if u.Applied || u.Err == nil || !strings.Contains(u.Err.Error(), a) || len(u.Problems) == 0 {
		t.Fatalf("bad edit applied or unreported: applied=%v err=%v problems=%v", u.Applied, u.Err, u.Problems)
	}
	if value(u, "a") != "one" || value(u, "b") != "one" {
		t.Fatalf("bad edit did not keep the last good set: %+v", u.Set.ConfigMaps)
	}

	write(t, a, configMap("a", "two"))
	u = p.Load()
	if !u.Applied || value(u, "a") != "two" {
		t.Fatalf("fixed edit not applied: %+v", u)
	}
	if u.Generation != 3 {
		t.Fatalf("generation %d, want 3", u.Generation)
	}
}

func TestStartupProblemsDoNotBlockOtherEdits(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	write(t, good, configMap("g", "one"))
	write(t, bad, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\n  bogus: 1\n")
	p := New(Options{Paths: []string{dir}})
	u := p.Load()
	if !u.Applied || len(u.Problems) == 0 || value(u, "g") != "one" {
		t.Fatalf("startup with a bad file should serve the valid objects: %+v", u)
	}
	write(t, good, configMap("g", "two"))
	if u = p.Load(); !u.Applied || value(u, "g") != "two" {
		t.Fatalf("an edit of a good file was blocked by an untouched bad one: %+v", u)
	}
}

func TestEmptyReloadRejected(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	write(t, a, configMap("a", "one"))
	p := New(Options{Paths: []string{dir}})
	p.Load()
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	u := p.Load()
	if u.Applied || !errors.Is(u.Err, ErrEmpty) || value(u, "a") != "one" {
		t.Fatalf("empty reload: %+v", u)
	}
}

func TestMissingPathIsAnError(t *testing.T) {
	p := New(Options{Paths: []string{filepath.Join(t.TempDir(), "nope")}})
	if u := p.Load(); u.Err == nil || u.Set != nil {
		t.Fatalf("missing path: %+v", u)
	}
}

// Run reloads after edits in a folder, a new subfolder and an explicitly
// named file, and ignores editor litter.
func TestRunWatches(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), configMap("a", "one"))
	named := filepath.Join(other, "named.yaml")
	write(t, named, configMap("n", "one"))
	p := New(Options{Paths: []string{dir, named}, Debounce: 20 * time.Millisecond})
	if u := p.Load(); !u.Applied {
		t.Fatal(u.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan Update, 16)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, func(u Update) { updates <- u }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Run compares the files with what Load saw once its watches are set,
	// so an edit racing that setup is not lost: no retry is needed.
	waitValue := func(name, want string, edit func()) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		edit()
		for {
			select {
			case u := <-updates:
				if value(u, name) == want {
					return
				}
			case <-deadline:
				t.Fatalf("no reload with %s=%s", name, want)
			}
		}
	}
	waitValue("a", "two", func() { write(t, filepath.Join(dir, "a.yaml"), configMap("a", "two")) })
	waitValue("n", "two", func() { write(t, named, configMap("n", "two")) })
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	waitValue("s", "one", func() { write(t, filepath.Join(sub, "s.yaml"), configMap("s", "one")) })
	if !(&watchSet{files: map[string]bool{}, inputDirs: map[string]bool{dir: true}}).relevant(fsnotifyEvent(filepath.Join(dir, "x.yaml"))) {
		t.Fatal("a yaml file in an input folder must be relevant")
	}
	for _, litter := range []string{".a.yaml.swp", "a.yaml~", "4913"} {
		if (&watchSet{files: map[string]bool{}, inputDirs: map[string]bool{dir: true}}).relevant(fsnotifyEvent(filepath.Join(dir, litter))) {
			t.Fatalf("%s must be ignored", litter)
		}
	}
}

func fsnotifyEvent(name string) fsnotify.Event { return fsnotify.Event{Name: name, Op: fsnotify.Write} }

// An editor's save moves the file away before writing it again: with the
// default debounce the reload sees only the saved file, never the gap.
func TestRunCoalescesEditorSave(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	write(t, a, configMap("a", "one"))
	write(t, filepath.Join(dir, "b.yaml"), configMap("b", "one"))
	p := New(Options{Paths: []string{dir}})
	if u := p.Load(); !u.Applied {
		t.Fatal(u.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan Update, 16)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, func(u Update) { updates <- u }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the watches be set
	// vim's default: rename to a backup, write anew, remove the backup.
	if err := os.Rename(a, a+"~"); err != nil {
		t.Fatal(err)
	}
	write(t, a, configMap("a", "two"))
	if err := os.Remove(a + "~"); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-updates:
		if value(u, "a") != "two" {
			t.Fatalf("first reload after the save has a=%q", value(u, "a"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reload")
	}
}

// Rewrites in place that keep the size and the time stamp (both edits land
// within one tick of the kernel's coarse clock, or a tool restores the
// time) are seen through the watcher's events: the reload reads what the
// events name, not only what stat says moved.
func TestRunSeesSameSizedRewritesInPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	stamp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inPlace := func(v string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(configMap("a", v)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	inPlace("one")
	p := New(Options{Paths: []string{dir}, Debounce: 20 * time.Millisecond})
	if u := p.Load(); !u.Applied || value(u, "a") != "one" {
		t.Fatalf("first load: %v %q", u.Err, value(u, "a"))
	}
	// Before the watch exists: no event will name this one.
	inPlace("two")
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan Update, 16)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, func(u Update) { updates <- u }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for i, v := range []string{"two", "six", "ten"} { // same length as "one"
		if i > 0 {
			inPlace(v)
		}
		deadline := time.After(10 * time.Second)
	wait:
		for {
			select {
			case u := <-updates:
				if value(u, "a") == v {
					break wait
				}
			case <-deadline:
				t.Fatalf("the rewrite to %q was never loaded", v)
			}
		}
	}
}
