package extension

import (
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/resource"
)

// LoadOptions keeps the objects of every kind the extension managers
// declare (resources, policyResources, backendResources) in Set.Extra
// instead of reporting them as unknown kinds.
func LoadOptions(cfg *egv1a1.EnvoyGateway) []resource.Option {
	var gvks []k8sschema.GroupVersionKind
	for _, m := range Configs(cfg) {
		if m == nil {
			continue
		}
		for _, list := range [][]egv1a1.GroupVersionKind{m.Resources, m.PolicyResources, m.BackendResources} {
			for _, g := range list {
				gvks = append(gvks, k8sschema.GroupVersionKind{Group: g.Group, Version: g.Version, Kind: g.Kind})
			}
		}
	}
	if len(gvks) == 0 {
		return nil
	}
	return []resource.Option{resource.WithExtraKinds(gvks...)}
}
