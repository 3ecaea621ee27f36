package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File names in a bundle directory (the keys of a kubernetes.io/tls Secret).
const (
	CAFile   = "ca.crt"
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// dataLink is the symlink to the current files, as in the directory the
// kubelet mounts for a Secret: ca.crt -> ..data/ca.crt, ..data -> ..<stamp>.
// Replacing ..data with one rename swaps all three files at once.
const dataLink = "..data"

// renewBefore is how long before expiry Ensure replaces a set.
const renewBefore = 30 * 24 * time.Hour

// WriteBundle writes b into dir (created 0700) so that a reader that opens
// the files at any moment sees either the old or the new three: the files
// go into a fresh subdirectory and one rename switches ..data to it. The
// key is 0600, the certificates 0644.
func WriteBundle(dir string, b Bundle) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := os.MkdirTemp(dir, "..data-")
	if err != nil {
		return err
	}
	if err := writeFiles(data, b); err != nil {
		os.RemoveAll(data)
		return err
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	tmpLink := filepath.Join(dir, dataLink+".tmp")
	os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(data), tmpLink); err != nil {
		os.RemoveAll(data)
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataLink)); err != nil {
		os.RemoveAll(data)
		return err
	}
	for _, name := range []string{CAFile, CertFile, KeyFile} {
		if err := linkFile(dir, name); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(data) {
		os.RemoveAll(filepath.Join(dir, old))
	}
	return syncDir(dir)
}

func writeFiles(dir string, b Bundle) error {
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{{CAFile, b.CA, 0o644}, {CertFile, b.Cert, 0o644}, {KeyFile, b.Key, 0o600}} {
		if err := writeSynced(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

func writeSynced(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// linkFile makes dir/name a symlink to ..data/name, replacing whatever is
// there (a plain file from another writer) in one rename.
func linkFile(dir, name string) error {
	path := filepath.Join(dir, name)
	target := filepath.Join(dataLink, name)
	if t, err := os.Readlink(path); err == nil && t == target {
		return nil
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadBundle reads the three files of dir. A writer that does not swap
// them at once (cp, an editor) can be caught halfway, so a pair that does
// not check out is read again a few times before it is reported.
func ReadBundle(dir string) (Bundle, *Parsed, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
		}
		var b Bundle
		var err error
		if b.CA, err = os.ReadFile(filepath.Join(dir, CAFile)); err != nil {
			return Bundle{}, nil, err
		}
		if b.Cert, err = os.ReadFile(filepath.Join(dir, CertFile)); err != nil {
			return Bundle{}, nil, err
		}
		if b.Key, err = os.ReadFile(filepath.Join(dir, KeyFile)); err != nil {
			return Bundle{}, nil, err
		}
		p, err := b.Parse(time.Now())
		if err == nil {
			return b, p, nil
		}
		lastErr = err
	}
	return Bundle{}, nil, fmt.Errorf("%s: %w", dir, lastErr)
}

// Ensure makes sure root holds a usable set: root/envoy-gateway and
// root/envoy, signed by the same CA and valid for more than 30 more days.
// Otherwise it generates a new set and writes both bundles; readers pick
// them up at their next handshake (Source). Concurrent callers on one host
// are serialized by a lock file. It reports whether it generated.
func Ensure(root string, o Options) (generated bool, err error) {
	o = o.withDefaults()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return false, err
	}
	unlock, err := lock(filepath.Join(root, ".lock"))
	if err != nil {
		return false, err
	}
	defer unlock()
	if usable(root, o.Now()) == nil {
		return false, nil
	}
	set, err := Generate(o)
	if err != nil {
		return false, err
	}
	if err := WriteBundle(filepath.Join(root, Proxy), set.Proxy); err != nil {
		return false, err
	}
	if err := WriteBundle(filepath.Join(root, ControlPlane), set.ControlPlane); err != nil {
		return false, err
	}
	return true, nil
}

// usable says why root's set cannot be kept (nil when it can).
func usable(root string, now time.Time) error {
	cp, cpp, err := ReadBundle(filepath.Join(root, ControlPlane))
	if err != nil {
		return err
	}
	px, pxp, err := ReadBundle(filepath.Join(root, Proxy))
	if err != nil {
		return err
	}
	if string(cp.CA) != string(px.CA) {
		return errors.New("the two bundles have different CAs")
	}
	if earliest(cpp.NotAfter, pxp.NotAfter).Sub(now) < renewBefore {
		return errors.New("expiring")
	}
	return nil
}
