package resource

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\n"

// A pipe named explicitly (x translate -f <(command)) is read with
// WithPipes and reported without it; a folder's pipe is never read.
func TestNamedPipe(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		_, _ = f.WriteString(cm)
		f.Close()
	}()
	set, probs, err := Load([]string{fifo}, WithPipes())
	if err != nil || len(probs) != 0 || len(set.ConfigMaps) != 1 {
		t.Fatalf("named pipe with WithPipes: err=%v problems=%v", err, probs)
	}
	set, probs, err = Load([]string{fifo})
	if err != nil || len(probs) != 1 || !strings.Contains(probs[0].Message, "named pipe") || set.Len() != 0 {
		t.Fatalf("named pipe without WithPipes: err=%v problems=%v", err, probs)
	}
	set, probs, err = Load([]string{dir}, WithPipes())
	if err != nil || len(probs) != 1 || set.Len() != 0 {
		t.Fatalf("a folder's pipe: err=%v problems=%v", err, probs)
	}
}

// A character device named explicitly is read only up to the limit.
func TestDeviceIsBounded(t *testing.T) {
	_, probs, err := Load([]string{"/dev/zero"}, WithPipes(), WithMaxFileSize(1<<20))
	if err != nil || len(probs) != 1 || !strings.Contains(probs[0].Message, "limit") {
		t.Fatalf("err=%v problems=%v", err, probs)
	}
}

// One file reached through several spellings is read once, by the Cache
// as by Load.
func TestFileNamedTwiceIsReadOnce(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(f, []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func([]string) (*Set, Problems, error){
		"Load":  func(p []string) (*Set, Problems, error) { return Load(p) },
		"Cache": func(p []string) (*Set, Problems, error) { return NewCache().Load(p) },
	} {
		set, probs, err := load([]string{dir, f, dir + "/."})
		if err != nil || len(probs) != 0 || len(set.ConfigMaps) != 1 {
			t.Fatalf("%s: err=%v problems=%v", name, err, probs)
		}
	}
}
