package wasm

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultCacheLimit is Envoy Gateway's cap on the cache's total size.
const DefaultCacheLimit = 1 << 30

// Cache keeps modules on disk keyed as Envoy Gateway keys them: (name,
// checksum), in <dir>/<hex sha256(name)>/<checksum>.wasm, where name is
// the URL. A module whose policy declares its sha256 is read from here on
// a restart instead of being downloaded again.
type Cache struct {
	Dir   string
	Limit int64 // DefaultCacheLimit when 0
	// InUse reports the modules that must stay; when a new module would
	// take the cache past Limit, the least recently used others are
	// removed first (the Store sets it).
	InUse func(path string) bool
}

// DefaultCacheDir is <user cache dir>/portico/wasm.
func DefaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "portico", "wasm")
}

// Path is the file of (name, sum).
func (c *Cache) Path(name, sum string) string {
	h := sha256.Sum256([]byte(name))
	return filepath.Join(c.Dir, hex.EncodeToString(h[:]), sum+".wasm")
}

// Get returns the cached module of (name, sum) when its bytes still hash
// to sum (a damaged file is a miss).
func (c *Cache) Get(name, sum string) ([]byte, bool) {
	b, err := os.ReadFile(c.Path(name, sum))
	if err != nil {
		return nil, false
	}
	h := sha256.Sum256(b)
	if hex.EncodeToString(h[:]) != sum {
		return nil, false
	}
	touch(c.Path(name, sum))
	return b, true
}

// touch marks a module as just used: eviction goes by modification time.
func touch(p string) {
	now := time.Now()
	_ = os.Chtimes(p, now, now)
}

// Put stores a module; a write that would take the cache past its limit
// fails with Envoy Gateway's message.
func (c *Cache) Put(name, sum string, b []byte) (string, error) {
	p := c.Path(name, sum)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := c.write(p, b); err != nil {
		return "", err
	}
	return p, nil
}

// write stores b at p atomically, after making room for it.
func (c *Cache) write(p string, b []byte) error {
	if err := c.makeRoom(int64(len(b))); err != nil {
		return err
	}
	return writeAtomic(p, b)
}

// writeAtomic writes b to p through a temporary file and a rename.
func writeAtomic(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".partial-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	// A rename is atomic: a reader never sees half a module.
	if err := os.Rename(tmp.Name(), p); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// makeRoom removes least recently used modules that are not in use until
// need more bytes fit under the limit, or fails with Envoy Gateway's
// message when the modules in use alone leave no room.
func (c *Cache) makeRoom(need int64) error {
	limit := c.Limit
	if limit <= 0 {
		limit = DefaultCacheLimit
	}
	used := c.size()
	if used+need <= limit {
		return nil
	}
	type module struct {
		path string
		size int64
		mod  time.Time
	}
	var mods []module
	_ = filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".wasm" {
			return nil
		}
		if info, err := d.Info(); err == nil && (c.InUse == nil || !c.InUse(p)) {
			mods = append(mods, module{p, info.Size(), info.ModTime()})
		}
		return nil
	})
	sort.Slice(mods, func(i, j int) bool { return mods[i].mod.Before(mods[j].mod) })
	for _, m := range mods {
		if used+need <= limit {
			break
		}
		if os.Remove(m.path) == nil {
			used -= m.size
			_ = os.Remove(strings.TrimSuffix(m.path, ".wasm") + sumSuffix)
		}
	}
	if used+need > limit {
		return fmt.Errorf("wasm cache size exceeded the limit: %d", limit)
	}
	return nil
}

func (c *Cache) size() int64 {
	var n int64
	_ = filepath.WalkDir(c.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// salt returns the cache's secret salt for serving paths, created once:
// a proxy that knows one module's path cannot guess another's.
func (c *Cache) salt() ([]byte, error) {
	p := filepath.Join(c.Dir, "salt")
	if b, err := os.ReadFile(p); err == nil && len(b) == 32 {
		return b, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}
