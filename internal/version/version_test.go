package version

import (
	"runtime/debug"
	"testing"
)

func TestRevision(t *testing.T) {
	for _, c := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "84a457b1c2d3e4f5a6b7"}, {Key: "vcs.time", Value: "2026-12-04T13:01:02Z"},
			{Key: "vcs.modified", Value: "false"}}, "revision 84a457b1c2d3 (2026-12-04T13:01:02Z)"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "84a457b1c2d3e4f5a6b7"}, {Key: "vcs.modified", Value: "true"}},
			"revision 84a457b1c2d3-dirty"},
		{nil, "revision unknown (built without VCS information; go build in a git checkout records it)"},
	} {
		if got := revision(c.settings); got != c.want {
			t.Errorf("revision(%v) = %q, want %q", c.settings, got, c.want)
		}
	}
}
