// Package version holds the build's version, set with -ldflags at release,
// and the source revision the Go toolchain stamps into binaries built from
// a git checkout.
package version

import (
	"runtime/debug"
	"strings"
)

// Version is overridden at link time: -X github.com/portico-gw/portico/internal/version.Version=v0.1.0
var Version = "dev"

// String returns the version, the source revision (with "-dirty" when the
// checkout had changes, and its commit time) and the Go version, e.g.
//
//	portico dev revision 84a457b1c2d3 (2026-12-04T13:01:02Z) go1.26.8
//
// A binary built without VCS information (go run, -buildvcs=false, a
// module download) says so instead of a revision.
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "portico " + Version + " (no build information)"
	}
	return "portico " + Version + " " + revision(bi.Settings) + " " + bi.GoVersion
}

// revision renders the vcs.* build settings.
func revision(settings []debug.BuildSetting) string {
	var rev, at string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "revision unknown (built without VCS information; go build in a git checkout records it)"
	}
	var b strings.Builder
	b.WriteString("revision ")
	b.WriteString(rev[:min(12, len(rev))])
	if dirty {
		b.WriteString("-dirty")
	}
	if at != "" {
		b.WriteString(" (" + at + ")")
	}
	return b.String()
}
