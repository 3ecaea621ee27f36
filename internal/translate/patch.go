package translate

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/patch"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
	"github.com/portico-gw/portico/internal/xds/configdump"
	"github.com/portico-gw/portico/internal/xds/translator"
)

// applyEnvoyPatchPolicies is the EnvoyPatchPolicy stage of x translate. It
// attaches the policies to their IR, patches the xDS of every fleet that
// has some (replacing what addXDS printed for it), and prints the policies
// with Accepted and Programmed, which egctl cannot show.
//
// egctl x translate always enables EnvoyPatchPolicy; so does Portico when
// no --config is given, and with --config the configuration decides, as it
// would for the server.
func applyEnvoyPatchPolicies(report *Report, set *resource.Set, opts Options, cfg *egv1a1.EnvoyGateway, result *gatewayapi.Result) {
	gopts := translationOptions(cfg)
	if opts.Config == nil {
		gopts.EnableEnvoyPatchPolicy = true
	}
	policies := gatewayapi.ProcessEnvoyPatchPolicies(set, gopts, result)
	if len(policies) == 0 {
		return
	}
	byName := map[string]*egv1a1.EnvoyPatchPolicy{}
	for _, p := range policies {
		byName[p.Namespace+"/"+p.Name] = p
	}
	xdsOut, _ := report.Output["xds"].(map[string]any)
	var diffs []any
	for _, key := range sortedKeys(result.XdsIR) {
		x := result.XdsIR[key]
		if len(x.EnvoyPatchPolicies) == 0 {
			continue
		}
		// addXDS already reported this fleet's translation errors.
		res, _ := translator.Translate(x)
		patched, statuses := patch.Apply(res, x.EnvoyPatchPolicies,
			patch.Options{Names: patch.NamesFor(x), RecordChanges: opts.Diff})
		for _, st := range statuses {
			if p := byName[st.Namespace+"/"+st.Name]; p != nil && len(p.Status.Ancestors) > 0 {
				a := &p.Status.Ancestors[0]
				a.Conditions = setPolicyCondition(a.Conditions, st.Programmed)
			}
			if opts.Diff {
				diffs = append(diffs, policyDiff(key, st, report))
			}
		}
		if xdsOut != nil {
			if v, err := renderFleet(patched, opts.Types); err != nil {
				report.Errors = append(report.Errors, fmt.Sprintf("%s: %v", key, err))
			} else {
				xdsOut[key] = v
			}
		}
	}
	if slices.Contains(opts.To, ToGatewayAPI) {
		var all []any
		for _, p := range policies {
			all = append(all, withPolicyTypeMeta(p))
		}
		report.Output["envoyPatchPolicies"] = all
	}
	if opts.Diff {
		report.Output["envoyPatchPolicyDiffs"] = diffs
	}
}

// policyDiff is one policy's effect on the xDS of one fleet: the unified
// diff of the YAML (proto field names, the ones patch paths use) of every
// resource it changed, before and after its own patches.
func policyDiff(key string, st patch.Status, report *Report) map[string]any {
	d := map[string]any{
		"policy":     st.Namespace + "/" + st.Name,
		"xds":        key,
		"programmed": string(st.Programmed.Status),
	}
	text := ""
	for _, c := range st.Changes {
		s, err := patch.Diff(c)
		if err != nil {
			report.Errors = append(report.Errors, fmt.Sprintf("%s: diff of %s: %v", key, c.Name, err))
			continue
		}
		text += s
	}
	if text == "" {
		text = "(no change)\n"
	}
	d["diff"] = text
	return d
}

// renderFleet renders one fleet's xDS as addXDS does.
func renderFleet(res *translator.Resources, types []string) (any, error) {
	parsed, err := parseTypes(types)
	if err != nil {
		return nil, err
	}
	bs := bootstrap.Build(bootstrap.EnvoyGatewayDefaults())
	if len(parsed) == 1 {
		return configdump.Render(res, bs, parsed[0])
	}
	var configs []any
	for _, t := range parsed {
		v, err := configdump.Render(res, bs, t)
		if err != nil {
			return nil, err
		}
		configs = append(configs, v)
	}
	return map[string]any{"configs": configs}, nil
}

func withPolicyTypeMeta(p *egv1a1.EnvoyPatchPolicy) runtime.Object {
	if p.GetObjectKind().GroupVersionKind().Kind == "" {
		p.SetGroupVersionKind(egv1a1.GroupVersion.WithKind("EnvoyPatchPolicy"))
	}
	return p
}

// setPolicyCondition replaces the condition of the same type or appends it.
// (apimachinery's SetStatusCondition would stamp the current time; the
// output must be the same for the same input.)
func setPolicyCondition(conds []metav1.Condition, c metav1.Condition) []metav1.Condition {
	for i := range conds {
		if conds[i].Type == c.Type {
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}
