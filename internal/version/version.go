// Package version holds the build's version, set with -ldflags at release.
package version

import "runtime/debug"

// Version is overridden at link time: -X github.com/portico-gw/portico/internal/version.Version=v0.1.0
var Version = "dev"

// String returns the version and, when the binary was built from a module,
// its Go version.
func String() string {
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = " " + bi.GoVersion
	}
	return "portico " + Version + goVersion
}
