// Package helmchart loads, lints and renders charts/portico with the Helm v4
// library, as `helm lint` and `helm template` would, so that tests check
// the chart and the end-to-end tests apply exactly what `helm install`
// would create.
package helmchart

import (
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

// Dir is charts/portico in this repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "charts", "portico")
}

// Lint runs helm lint's rules and returns its messages of severity
// warning and above.
func Lint(values map[string]any, namespace string) []string {
	res := lint.RunAll(Dir(), values, namespace)
	var out []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			out = append(out, m.Error())
		}
	}
	return out
}

// Rendered is a chart rendered for one release.
type Rendered struct {
	// CRDs are the files of crds/ (applied first, never templated).
	CRDs map[string][]byte
	// Manifests are the rendered templates by name, without hooks.
	Manifests map[string]string
	// Hooks are the rendered hook templates (certgen) by name.
	Hooks map[string]string
}

// Render renders the chart as `helm install RELEASE -n NAMESPACE` would.
func Render(release, namespace string, values map[string]any) (*Rendered, error) {
	c, err := loader.LoadDir(Dir())
	if err != nil {
		return nil, err
	}
	vals, err := util.ToRenderValues(c, values, common.ReleaseOptions{Name: release, Namespace: namespace,
		IsInstall: true, Revision: 1}, nil)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(c, vals)
	if err != nil {
		return nil, err
	}
	out := &Rendered{CRDs: map[string][]byte{}, Manifests: map[string]string{}, Hooks: map[string]string{}}
	for _, f := range c.CRDObjects() {
		out.CRDs[f.Filename] = f.File.Data
	}
	for name, body := range files {
		if strings.TrimSpace(body) == "" || strings.HasSuffix(name, "NOTES.txt") || strings.HasSuffix(name, ".tpl") {
			continue
		}
		if strings.Contains(body, "helm.sh/hook") {
			out.Hooks[name] = body
		} else {
			out.Manifests[name] = body
		}
	}
	return out, nil
}

// Chart loads the chart.
func Chart() (*chart.Chart, error) { return loader.LoadDir(Dir()) }

// Names lists map keys in order (for messages).
func Names[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
