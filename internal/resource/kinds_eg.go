package resource

import (
	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

const egGroup = "gateway.envoyproxy.io"

// egEntries registers the Envoy Gateway kinds Portico serves; their CRDs come from
// config/crd/portico. One line per kind: a kind whose CRD is embedded but that is not
// listed here is reported as unknown, which is the honest answer until it is served.
func egEntries() []kindEntry {
	return []kindEntry{
		typed(egGroup, "EnvoyProxy", true, func(s *Set) *[]*egv1a1.EnvoyProxy { return &s.EnvoyProxies }),
		typed(egGroup, "EnvoyPatchPolicy", true, func(s *Set) *[]*egv1a1.EnvoyPatchPolicy { return &s.EnvoyPatchPolicies }),
		typed(egGroup, "EnvoyExtensionPolicy", true, func(s *Set) *[]*egv1a1.EnvoyExtensionPolicy { return &s.EnvoyExtensionPolicies }),
		typed(egGroup, "SecurityPolicy", true, func(s *Set) *[]*egv1a1.SecurityPolicy { return &s.SecurityPolicies }),
		typed(egGroup, "Backend", true, func(s *Set) *[]*egv1a1.Backend { return &s.Backends }),
	}
}
