package translate

import (
	"fmt"

	"github.com/portico-gw/portico/internal/patch"
	"github.com/portico-gw/portico/internal/pipeline"
)

// addPatchDiffs adds envoyPatchPolicyDiffs: per policy and fleet, the
// unified diff of the YAML (proto field names, the ones patch paths use) of
// every resource it changed, before and after its own patches. egctl has
// no way to show what a patch did.
func addPatchDiffs(report *Report, result *pipeline.Result) {
	var diffs []any
	for _, f := range result.Fleets {
		for _, st := range f.Patches {
			text := ""
			for _, c := range st.Changes {
				s, err := patch.Diff(c)
				if err != nil {
					report.Errors = append(report.Errors, fmt.Sprintf("%s: diff of %s: %v", f.Key, c.Name, err))
					continue
				}
				text += s
			}
			if text == "" {
				text = "(no change)\n"
			}
			diffs = append(diffs, map[string]any{
				"policy":     st.Namespace + "/" + st.Name,
				"xds":        f.Key,
				"programmed": string(st.Programmed.Status),
				"diff":       text,
			})
		}
	}
	report.Output["envoyPatchPolicyDiffs"] = diffs
}
