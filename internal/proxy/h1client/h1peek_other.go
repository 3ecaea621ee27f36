//go:build !unix

package h1client

// peekAlive cannot probe without MSG_PEEK; a request on a connection the
// upstream closed is then retried by Pool.RoundTrip when that is safe.
func peekAlive(*h1Conn) bool { return true }
