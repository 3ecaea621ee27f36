package support

import (
	"fmt"
	"sort"
	"strings"
)

// Matrix renders the ledger as the user-facing support matrix
// (docs/support-matrix.md): one table per kind, one row per ledger row.
func Matrix() string {
	var b strings.Builder
	b.WriteString("# Support matrix\n\n")
	b.WriteString("<!-- Generated from internal/support/ledger.go by `go run ./internal/support/gen`; do not edit. -->\n\n")
	b.WriteString("What Portico does with each field of each kind it loads. A row covers its field and\n")
	b.WriteString("everything under it unless a longer row says otherwise. A field that is *not yet*\n")
	b.WriteString("supported is never silently ignored: it produces the condition in the last column.\n")
	b.WriteString("Fields with *no effect in standalone mode* are accepted and named in the object's\n")
	b.WriteString("Accepted message.\n")
	var kinds []string
	seen := map[string]bool{}
	for _, e := range Ledger {
		if !seen[e.Kind] {
			seen[e.Kind] = true
			kinds = append(kinds, e.Kind)
		}
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "\n## %s\n\n", k)
		b.WriteString("| Field | Support | What happens |\n|---|---|---|\n")
		rows := EntriesOf(k)
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Path < rows[j].Path })
		for _, e := range rows {
			field := "`" + e.Path + "`"
			if e.Value != "" {
				field += " = `" + e.Value + "`"
			}
			what := e.Effect.Describe()
			if e.Note != "" {
				if what != "" {
					what += "; "
				}
				what += e.Note
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", field, e.State, escapePipes(what))
		}
	}
	return b.String()
}

func escapePipes(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
