package resource

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the input. The loader collects every problem in one
// pass instead of stopping at the first, so a user fixes a file in one round trip.
//
// Messages never contain Secret data: Secrets are decoded without echoing values, and
// the schema validator (which quotes offending values) never sees a Secret.
type Problem struct {
	File      string // path as given to the loader, "-" for stdin
	Doc       int    // 1-based index among the non-empty YAML documents of File; 0 if not applicable
	Line      int    // 1-based line in File; 0 if unknown
	Kind      string // kind of the offending object, when known
	Namespace string // namespace after defaulting, empty for cluster-scoped kinds
	Name      string
	Path      string // field path, e.g. spec.rules[0].matches[0].path.type; empty for whole-object problems
	Message   string
}

// String renders the problem as
//
//	quickstart.yaml#3 HTTPRoute default/backend: spec.rules[0].matches[0].path.type: Unsupported value: ...
//
// The line number, when known, is appended as "(line N)" so the common prefix stays
// grep-friendly and stable.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Doc > 0 {
		fmt.Fprintf(&b, "#%d", p.Doc)
	}
	if p.Kind != "" {
		b.WriteByte(' ')
		b.WriteString(p.Kind)
	}
	if p.Name != "" {
		b.WriteByte(' ')
		if p.Namespace != "" {
			b.WriteString(p.Namespace)
			b.WriteByte('/')
		}
		b.WriteString(p.Name)
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	return b.String()
}

// Problems is the list of problems found while loading. It implements error so callers
// that only want pass/fail can treat it as one.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error, or nil when there are no problems (avoids the typed-nil trap).
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}
