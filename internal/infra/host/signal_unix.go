//go:build unix

package host

import "syscall"

var sigterm = syscall.SIGTERM
