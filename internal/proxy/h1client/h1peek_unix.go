//go:build unix

package h1client

import "syscall"

// peekAlive reports whether an idle connection is still open and silent:
// a non-blocking MSG_PEEK sees the upstream's FIN (0 bytes) or unsolicited
// bytes without consuming anything. It costs one system call and spares
// the request a trip over a connection the upstream already closed.
func peekAlive(c *h1Conn) bool {
	if c.rc == nil {
		return true
	}
	alive := true
	var b [1]byte
	_ = c.rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true
	})
	return alive
}
