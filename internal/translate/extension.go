package translate

import (
	"fmt"

	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/extension"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/xds/translator"
)

// extensionLoadOptions keeps the objects of every kind the extension
// managers declare (resources, policyResources, backendResources) instead
// of reporting them as unknown.
func extensionLoadOptions(cfg *egv1a1.EnvoyGateway) []resource.Option {
	var gvks []k8sschema.GroupVersionKind
	for _, m := range extension.Configs(cfg) {
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

// extensionHooks connects to the extension servers the config declares, or
// to addr (--extension-server) with every hook on when it declares none;
// egctl cannot run the hooks offline. Service TLS certificates are read
// from the Secrets in the input. The returned func closes the connections.
func extensionHooks(addr string, cfg *egv1a1.EnvoyGateway, set *resource.Set) (translator.Hooks, func(), error) {
	m, err := extension.New(cfg, extension.Options{
		Address: addr,
		Secret: func(ns, name string) (map[string][]byte, error) {
			for _, s := range set.Secrets {
				if s.Namespace == ns && s.Name == name {
					return s.Data, nil
				}
			}
			return nil, fmt.Errorf("secret %s/%s not found in the input", ns, name)
		},
	})
	if err != nil {
		return nil, func() {}, err
	}
	if m == nil {
		return nil, func() {}, nil
	}
	return m, func() { _ = m.Close() }, nil
}
