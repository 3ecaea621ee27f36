//go:build !unix

package certs

// lock is a no-op where flock is not available: concurrent first starts
// on one host may then generate twice, and the last writer wins.
func lock(string) (func(), error) { return func() {}, nil }
