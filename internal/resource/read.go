package resource

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultMaxFileSize bounds what is read of one input file. The largest
// input measured (10,000 HTTPRoutes in one file) is about 6 MB; 64 MiB
// leaves room for any real configuration while a file that never ends (a
// symbolic link to /dev/zero, a log growing beside the YAML) costs a bounded
// read instead of all the memory there is.
const DefaultMaxFileSize int64 = 64 << 20

// SpecialFileError says why an input file was not read: it is not a regular
// file, or it is larger than the limit. Load reports it as a Problem of that
// file and goes on with the others.
type SpecialFileError struct {
	Path   string
	Reason string
}

func (e *SpecialFileError) Error() string { return e.Path + ": " + e.Reason }

// readInput reads one input file: only a regular file (after following
// symbolic links, as ConfigMap mounts need), at most limit bytes. It never
// blocks on a named pipe and never reads a device: the file is checked
// before it is opened, opened without blocking, and checked again on the
// open descriptor (the path may have been swapped in between). With
// pipes, a pipe or character device is read too (x translate -f <(...)),
// still at most limit bytes.
func readInput(path string, limit int64, pipes bool) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkMode(path, st, pipes); err != nil {
		return nil, err
	}
	open := openNonBlocking
	if st.Mode()&fs.ModeNamedPipe != 0 {
		// A pipe named explicitly (pipes is set, or checkMode refused it):
		// wait for its writer. Opened without blocking, a read before the
		// writer connects returns end of file, and the input would be
		// empty whenever the writer (a shell's <(...)) is a moment late.
		open = os.Open
	}
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkMode(path, st, pipes); err != nil {
		return nil, err
	}
	if st.Mode().IsRegular() && st.Size() > limit {
		return nil, tooLarge(path, limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(path, limit)
	}
	return data, nil
}

func checkMode(path string, st fs.FileInfo, pipes bool) error {
	m := st.Mode()
	switch {
	case m.IsRegular():
		return nil
	case pipes && (m&fs.ModeNamedPipe != 0 || m&fs.ModeCharDevice != 0):
		return nil
	}
	what := "not a regular file"
	switch {
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), not a regular file"
	case m&fs.ModeCharDevice != 0 || m&fs.ModeDevice != 0:
		what = "a device, not a regular file"
	case m&fs.ModeSocket != 0:
		what = "a socket, not a regular file"
	case m.IsDir():
		what = "a folder"
	}
	return &SpecialFileError{Path: path, Reason: what + "; not read"}
}

func tooLarge(path string, limit int64) error {
	return &SpecialFileError{Path: path, Reason: fmt.Sprintf("larger than the %d MiB limit per input file; not read", limit>>20)}
}

// problemOf turns a SpecialFileError into the file's Problem; other errors
// (the file vanished, permissions) stay I/O errors.
func problemOf(err error) (Problem, bool) {
	var se *SpecialFileError
	if errors.As(err, &se) {
		return Problem{File: se.Path, Message: se.Reason}, true
	}
	return Problem{}, false
}

// realPath identifies a file whatever the spelling of its path (relative,
// absolute, through symbolic links), so that one file named twice (a folder
// given by the configuration and by -f) is read once.
func realPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}

// Digests are the SHA-256 digests of the files Load would read for paths
// (stdin excluded), by path as Load names them: each real file once, files
// that are not regular or too large left out, as Load leaves them out.
func Digests(paths []string, opts ...Option) (map[string][32]byte, error) {
	l := newLoader(buildOptions(opts))
	out := map[string][32]byte{}
	hash := func(path string, named bool) error {
		if !l.firstRead(path) {
			return nil
		}
		data, err := l.readFile(path, named)
		if err != nil {
			if _, special := problemOf(err); special {
				return nil
			}
			return err
		}
		out[path] = sha256.Sum256(data)
		return nil
	}
	for _, root := range paths {
		if root == "-" {
			continue
		}
		st, err := os.Stat(root)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			if err := hash(root, true); err != nil {
				return nil, err
			}
			continue
		}
		files, err := inputFiles(root)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := hash(f, false); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
