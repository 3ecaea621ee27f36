package gatewayapi

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/resource"
)

// index gives the translator O(1) lookups by namespace/name over the input.
type index struct {
	services        map[string]*corev1.Service
	endpointSlices  map[string][]*discoveryv1.EndpointSlice // by <ns>/<service-name>
	secrets         map[string]*corev1.Secret
	namespaces      map[string]*corev1.Namespace
	gateways        map[string]*gwapiv1.Gateway
	referenceGrants map[string][]*gwapiv1.ReferenceGrant // by namespace
}

func key(namespace, name string) string { return namespace + "/" + name }

func newIndex(in *resource.Set) *index {
	ix := &index{
		services:        map[string]*corev1.Service{},
		endpointSlices:  map[string][]*discoveryv1.EndpointSlice{},
		secrets:         map[string]*corev1.Secret{},
		namespaces:      map[string]*corev1.Namespace{},
		gateways:        map[string]*gwapiv1.Gateway{},
		referenceGrants: map[string][]*gwapiv1.ReferenceGrant{},
	}
	for _, s := range in.Services {
		ix.services[key(s.Namespace, s.Name)] = s
	}
	for _, es := range in.EndpointSlices {
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		k := key(es.Namespace, svc)
		ix.endpointSlices[k] = append(ix.endpointSlices[k], es)
	}
	for _, s := range in.Secrets {
		ix.secrets[key(s.Namespace, s.Name)] = s
	}
	for _, n := range in.Namespaces {
		ix.namespaces[n.Name] = n
	}
	for _, g := range in.Gateways {
		ix.gateways[key(g.Namespace, g.Name)] = g
	}
	for _, rg := range in.ReferenceGrants {
		ix.referenceGrants[rg.Namespace] = append(ix.referenceGrants[rg.Namespace], rg)
	}
	return ix
}

// namespaceLabels returns the labels of a namespace. A namespace that is not
// in the input still exists implicitly (standalone users rarely write
// Namespace objects), with only the well-known name label.
func (ix *index) namespaceLabels(name string) map[string]string {
	labels := map[string]string{corev1.LabelMetadataName: name}
	if ns := ix.namespaces[name]; ns != nil {
		for k, v := range ns.Labels {
			labels[k] = v
		}
	}
	return labels
}

// refAllowed reports whether an object of fromGroup/fromKind in fromNS may
// refer to toGroup/toKind toNS/toName: same namespace always, otherwise only
// with a ReferenceGrant in the target namespace.
func (ix *index) refAllowed(fromGroup, fromKind, fromNS, toGroup, toKind, toNS, toName string) bool {
	if fromNS == toNS {
		return true
	}
	for _, rg := range ix.referenceGrants[toNS] {
		fromOK := false
		for _, f := range rg.Spec.From {
			if string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNS {
				fromOK = true
				break
			}
		}
		if !fromOK {
			continue
		}
		for _, to := range rg.Spec.To {
			if string(to.Group) == toGroup && string(to.Kind) == toKind &&
				(to.Name == nil || *to.Name == "" || string(*to.Name) == toName) {
				return true
			}
		}
	}
	return false
}
