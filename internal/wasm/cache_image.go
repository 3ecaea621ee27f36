package wasm

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Modules from images are kept as Envoy Gateway keeps them, under the
// image manifest's digest: <dir>/<hex sha256(oci://repo)>/<digest>.wasm.
// Beside each, <digest>.sum holds the module's own sha256, which is what
// a read is checked against and what proxies are told. Two more small
// records make a restart with the registry down serve what was served:
// <hex sha256(url)>.tag, the digest a tag URL last resolved to, and
// <hex hmac>.ok, touched each time the registry let a credential pull
// that digest.
const (
	sumSuffix    = ".sum"
	tagSuffix    = ".tag"
	permitSuffix = ".ok"
)

// ImagePath is the file of the module of image name at manifest digest.
func (c *Cache) ImagePath(name, digest string) string { return c.Path(name, digest) }

// GetImage returns the module of (name, digest) and its sha256, when its
// bytes still hash to the recorded sum.
func (c *Cache) GetImage(name, digest string) ([]byte, string, bool) {
	p := c.ImagePath(name, digest)
	sum, err := os.ReadFile(strings.TrimSuffix(p, ".wasm") + sumSuffix)
	if err != nil {
		return nil, "", false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, "", false
	}
	h := sha256.Sum256(b)
	if hex.EncodeToString(h[:]) != string(sum) {
		return nil, "", false
	}
	touch(p)
	return b, string(sum), true
}

// PutImage stores the module of (name, digest) and returns its file.
func (c *Cache) PutImage(name, digest string, b []byte) (string, error) {
	p := c.ImagePath(name, digest)
	h := sha256.Sum256(b)
	// The sum goes first: a module without its sum is a miss, never a
	// module checked against nothing.
	if err := c.record(strings.TrimSuffix(p, ".wasm")+sumSuffix, hex.EncodeToString(h[:])); err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := c.write(p, b); err != nil {
		return "", err
	}
	return p, nil
}

// Tag is the digest url last resolved to, or "".
func (c *Cache) Tag(name, url string) string {
	b, err := os.ReadFile(c.tagPath(name, url))
	if err != nil {
		return ""
	}
	return string(b)
}

// SetTag records the digest url resolved to.
func (c *Cache) SetTag(name, url, digest string) error {
	return c.record(c.tagPath(name, url), digest)
}

func (c *Cache) tagPath(name, url string) string {
	h := sha256.Sum256([]byte(url))
	return filepath.Join(filepath.Dir(c.Path(name, "x")), hex.EncodeToString(h[:])+tagSuffix)
}

// Permitted returns when the registry last let the credential key pull
// (name, digest), if ever.
func (c *Cache) Permitted(name, key string) (time.Time, bool) {
	info, err := os.Stat(c.permitPath(name, key))
	if err != nil {
		return time.Time{}, false
	}
	return info.ModTime(), true
}

// SetPermitted records that the registry let key pull now.
func (c *Cache) SetPermitted(name, key string) error {
	p := c.permitPath(name, key)
	if err := c.record(p, ""); err != nil {
		return err
	}
	touch(p)
	return nil
}

func (c *Cache) permitPath(name, key string) string {
	return filepath.Join(filepath.Dir(c.Path(name, "x")), key+permitSuffix)
}

// record writes a small file atomically (outside the size cap).
func (c *Cache) record(p, content string) error { return writeAtomic(p, []byte(content)) }
