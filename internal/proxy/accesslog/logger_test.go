package accesslog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// File access logs are buffered; flush writes every line, in order, and
// a line larger than the buffer goes straight through after what was
// buffered before it.
func TestAccessLogFileBuffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := NewLogger(f)
	var want strings.Builder
	write := func(line string) {
		l.mu.Lock()
		_, _ = l.w.Write([]byte(line))
		l.mu.Unlock()
		want.WriteString(line)
	}
	for i := 0; i < 2000; i++ { // more than one buffer's worth
		write("line " + strings.Repeat("x", i%50) + "\n")
	}
	write(strings.Repeat("y", logBufferSize+1) + "\n")
	write("last\n")
	l.Flush()
	got, _ := os.ReadFile(path)
	if string(got) != want.String() {
		t.Fatalf("log file has %d bytes, want %d (or a different order)", len(got), want.Len())
	}
	if _, ok := NewLogger(&strings.Builder{}).w.(*fileSink); ok {
		t.Error("a non-file writer is buffered")
	}
}
