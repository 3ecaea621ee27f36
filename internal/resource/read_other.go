//go:build !unix

package resource

import "os"

// openNonBlocking opens path for reading (no named pipes to worry about).
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
