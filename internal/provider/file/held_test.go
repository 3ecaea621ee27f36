package file

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/resource"
)

// A bad edit of one file holds back that file only: later edits of the
// other files are applied, with the held file's last good version, until
// the held file is fixed.
func TestBadFileDoesNotHoldBackOtherEdits(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	write(t, a, configMap("a", "one"))
	write(t, b, configMap("b", "one"))
	p := New(Options{Paths: []string{dir}})
	if u := p.Load(); !u.Applied {
		t.Fatal(u.Err)
	}
	write(t, a, "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")
	if u := p.Load(); u.Applied {
		t.Fatalf("the bad edit alone was applied: %+v", u)
	}
	write(t, b, configMap("b", "two"))
	u := p.Load()
	if !u.Applied || value(u, "b") != "two" {
		t.Fatalf("the edit of b was held back by the bad a: applied=%v err=%v b=%q", u.Applied, u.Err, value(u, "b"))
	}
	if value(u, "a") != "one" || len(u.Held) != 1 || u.Held[0] != a || u.Err == nil || !strings.Contains(u.Err.Error(), a) {
		t.Fatalf("a's last good version not kept and reported: a=%q held=%v err=%v", value(u, "a"), u.Held, u.Err)
	}
	if len(u.Problems) == 0 || u.Problems[0].File != a {
		t.Fatalf("a's problem not reported: %v", u.Problems)
	}
	write(t, a, configMap("a", "two"))
	if u = p.Load(); !u.Applied || value(u, "a") != "two" || len(u.Held) != 0 || u.Err != nil {
		t.Fatalf("the fix of a: %+v", u)
	}
}

// A new file with a problem adds none of its objects, even the valid ones,
// while the other edits are applied.
func TestNewBadFileAddsNothing(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), configMap("a", "one"))
	p := New(Options{Paths: []string{dir}})
	p.Load()
	write(t, filepath.Join(dir, "a.yaml"), configMap("a", "two"))
	write(t, filepath.Join(dir, "n.yaml"), configMap("n", "one")+"---\n"+"apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")
	u := p.Load()
	if !u.Applied || value(u, "a") != "two" || value(u, "n") != "" || len(u.Held) != 1 {
		t.Fatalf("applied=%v a=%q n=%q held=%v", u.Applied, value(u, "a"), value(u, "n"), u.Held)
	}
}

// The same folder named twice (by the configuration's paths and by -f,
// spelled differently) is read once: no object is a duplicate of itself,
// and later edits are applied.
func TestSameFolderNamedTwiceIsReadOnce(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), configMap("a", "one"))
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(mustGetwd(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{Paths: []string{dir, rel, link, filepath.Join(dir, "a.yaml")}})
	u := p.Load()
	if !u.Applied || len(u.Problems) != 0 || len(u.Set.ConfigMaps) != 1 {
		t.Fatalf("applied=%v problems=%v configmaps=%d", u.Applied, u.Problems, len(u.Set.ConfigMaps))
	}
	write(t, filepath.Join(dir, "a.yaml"), configMap("a", "two"))
	if u = p.Load(); !u.Applied || value(u, "a") != "two" {
		t.Fatalf("edit after a doubly named folder: applied=%v err=%v", u.Applied, u.Err)
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// A FIFO and a symbolic link to /dev/zero in the folder are reported and
// never read: the load neither blocks nor grows without bound, and the
// regular files beside them are served and reloaded.
func TestSpecialFilesAreNotRead(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), configMap("a", "one"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml")); err != nil {
		t.Fatal(err)
	}
	p := New(Options{Paths: []string{dir}})
	loaded := make(chan Update, 1)
	go func() { loaded <- p.Load() }()
	var u Update
	select {
	case u = <-loaded:
	case <-time.After(10 * time.Second):
		t.Fatal("the load blocked on a special file")
	}
	if !u.Applied || value(u, "a") != "one" {
		t.Fatalf("applied=%v err=%v", u.Applied, u.Err)
	}
	got := map[string]string{}
	for _, pr := range u.Problems {
		got[filepath.Base(pr.File)] = pr.Message
	}
	if !strings.Contains(got["fifo.yaml"], "named pipe") || !strings.Contains(got["zero.yaml"], "device") {
		t.Fatalf("special files not reported: %v", u.Problems)
	}
	write(t, filepath.Join(dir, "a.yaml"), configMap("a", "two"))
	go func() { loaded <- p.Load() }()
	select {
	case u = <-loaded:
	case <-time.After(10 * time.Second):
		t.Fatal("a reload blocked on a special file")
	}
	if !u.Applied || value(u, "a") != "two" {
		t.Fatalf("reload beside special files: applied=%v err=%v", u.Applied, u.Err)
	}
}

// A file over the size limit is reported and skipped; the others load.
func TestOversizedFileIsNotRead(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), configMap("a", "one"))
	write(t, filepath.Join(dir, "big.yaml"), configMap("big", strings.Repeat("x", 4096)))
	p := New(Options{Paths: []string{dir}, LoadOptions: []resource.Option{resource.WithMaxFileSize(1024)}})
	u := p.Load()
	if !u.Applied || value(u, "a") != "one" || value(u, "big") != "" {
		t.Fatalf("applied=%v a=%q big read=%v", u.Applied, value(u, "a"), value(u, "big") != "")
	}
	if len(u.Problems) != 1 || !strings.Contains(u.Problems[0].Message, "limit") {
		t.Fatalf("problems = %v", u.Problems)
	}
}
