package resource

import (
	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Set is the validated input: every object that passed validation, typed, in input order
// (files sorted by path, then document order). Objects with problems are not here.
//
// Gateway API objects are the v1 Go types whatever version they were written in: the
// Gateway API CRDs convert between versions with strategy None (same JSON shape), so this
// is exactly what the API server would store. TypeMeta keeps the apiVersion as written.
type Set struct {
	GatewayClasses     []*gwapiv1.GatewayClass
	Gateways           []*gwapiv1.Gateway
	ListenerSets       []*gwapiv1.ListenerSet
	HTTPRoutes         []*gwapiv1.HTTPRoute
	GRPCRoutes         []*gwapiv1.GRPCRoute
	TLSRoutes          []*gwapiv1.TLSRoute
	TCPRoutes          []*gwapiv1.TCPRoute
	UDPRoutes          []*gwapiv1.UDPRoute
	ReferenceGrants    []*gwapiv1.ReferenceGrant
	BackendTLSPolicies []*gwapiv1.BackendTLSPolicy

	Namespaces     []*corev1.Namespace
	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	Secrets        []*corev1.Secret
	ConfigMaps     []*corev1.ConfigMap

	// Envoy Gateway kinds (gateway.envoyproxy.io/v1alpha1), registered in kinds_eg.go.
	EnvoyProxies           []*egv1a1.EnvoyProxy
	EnvoyPatchPolicies     []*egv1a1.EnvoyPatchPolicy
	EnvoyExtensionPolicies []*egv1a1.EnvoyExtensionPolicy
	SecurityPolicies       []*egv1a1.SecurityPolicy
	Backends               []*egv1a1.Backend

	// Extra holds objects of the kinds passed with WithExtraKinds (an extension
	// manager's resources), validated against their CRD when one was given.
	Extra []*unstructured.Unstructured
}

// Len counts the objects in the set.
func (s *Set) Len() int {
	n := len(s.GatewayClasses) + len(s.Gateways) + len(s.ListenerSets) + len(s.HTTPRoutes) +
		len(s.GRPCRoutes) + len(s.TLSRoutes) + len(s.TCPRoutes) + len(s.UDPRoutes) +
		len(s.ReferenceGrants) + len(s.BackendTLSPolicies) + len(s.Namespaces) +
		len(s.Services) + len(s.EndpointSlices) + len(s.Secrets) + len(s.ConfigMaps) +
		len(s.EnvoyProxies) + len(s.EnvoyPatchPolicies) + len(s.EnvoyExtensionPolicies) +
		len(s.SecurityPolicies) + len(s.Backends) + len(s.Extra)
	return n
}
