package patch

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// YAML renders a resource as the patch author sees it: protojson with
// proto (snake_case) field names, the names JSON Patch paths use, as YAML
// with sorted keys so a diff shows only what changed.
func YAML(m proto.Message) (string, error) {
	if m == nil {
		return "", nil
	}
	j, err := renderOpts.Marshal(m)
	if err != nil {
		return "", err
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return "", err
	}
	return string(y), nil
}

// Diff is the unified diff of one change's YAML (an inserted resource
// diffs against nothing).
func Diff(c Change) (string, error) {
	before, err := YAML(c.Before)
	if err != nil {
		return "", err
	}
	after, err := YAML(c.After)
	if err != nil {
		return "", err
	}
	// SplitLines turns a final newline into an empty last line, which
	// would print as a lone " " context line; YAML has no blank lines.
	before, after = strings.TrimSuffix(before, "\n"), strings.TrimSuffix(after, "\n")
	ref := c.TypeURL + "/" + c.Name
	from := "a/" + ref
	if c.Before == nil {
		from = "/dev/null"
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(before),
		B:        difflib.SplitLines(after),
		FromFile: from,
		ToFile:   "b/" + ref,
		Context:  3,
	})
}

// String is a one-line summary, for logs.
func (s Status) String() string {
	return fmt.Sprintf("%s/%s: %s=%s (%s) %s", s.Namespace, s.Name, s.Programmed.Type, s.Programmed.Status, s.Programmed.Reason, s.Programmed.Message)
}
