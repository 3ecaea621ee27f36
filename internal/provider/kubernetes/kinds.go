package kubernetes

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/resource"
)

// kind is one watched kind: how to make its objects, and where they go in
// the resource.Set the pipeline translates.
type kind struct {
	gvk k8sschema.GroupVersionKind
	// required kinds are core Kubernetes kinds: a cluster without them is
	// not a cluster. The others are watched only when their CRD is served.
	required bool
	// newObj is an empty object of the kind (with its GVK, for the cache).
	newObj func() client.Object
	// own returns the object to keep: a shallow copy with the TypeMeta the
	// pipeline and the status output expect (the cache's objects have none,
	// and are shared, so they are never written to).
	own func(client.Object) client.Object
	// add appends an owned object to its Set list.
	add func(*resource.Set, client.Object)
}

// typed builds the entry of a kind with a Go type. Registering a kind is one
// line in watchedKinds.
func typed[T any, PT interface {
	*T
	client.Object
}](gvk k8sschema.GroupVersionKind, list func(*resource.Set) *[]*T) kind {
	return kind{
		gvk:    gvk,
		newObj: func() client.Object { return PT(new(T)) },
		own: func(o client.Object) client.Object {
			c := *any(o).(*T)
			PT(&c).GetObjectKind().SetGroupVersionKind(gvk)
			return PT(&c)
		},
		add: func(s *resource.Set, o client.Object) {
			l := list(s)
			*l = append(*l, any(o).(*T))
		},
	}
}

// extensionKind is an extension manager's kind: unstructured, in Set.Extra.
func extensionKind(gvk k8sschema.GroupVersionKind) kind {
	return kind{
		gvk: gvk,
		newObj: func() client.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			return u
		},
		own: func(o client.Object) client.Object { return o },
		add: func(s *resource.Set, o client.Object) {
			s.Extra = append(s.Extra, o.(*unstructured.Unstructured))
		},
	}
}

func core(k kind) kind {
	k.required = true
	return k
}

var (
	gwv1 = k8sschema.GroupVersion{Group: gwapiv1.GroupVersion.Group, Version: gwapiv1.GroupVersion.Version}
	egv1 = egv1a1.GroupVersion
)

// watchedKinds is every kind the pipeline reads, in the order of the Set.
// Gateway API kinds are read at v1, which every Gateway API CRD of the
// pinned release serves (the pipeline's types are v1 whatever version an
// object was written in).
func watchedKinds() []kind {
	return []kind{
		typed(gwv1.WithKind("GatewayClass"), func(s *resource.Set) *[]*gwapiv1.GatewayClass { return &s.GatewayClasses }),
		typed(gwv1.WithKind("Gateway"), func(s *resource.Set) *[]*gwapiv1.Gateway { return &s.Gateways }),
		typed(gwv1.WithKind("ListenerSet"), func(s *resource.Set) *[]*gwapiv1.ListenerSet { return &s.ListenerSets }),
		typed(gwv1.WithKind("HTTPRoute"), func(s *resource.Set) *[]*gwapiv1.HTTPRoute { return &s.HTTPRoutes }),
		typed(gwv1.WithKind("GRPCRoute"), func(s *resource.Set) *[]*gwapiv1.GRPCRoute { return &s.GRPCRoutes }),
		typed(gwv1.WithKind("TLSRoute"), func(s *resource.Set) *[]*gwapiv1.TLSRoute { return &s.TLSRoutes }),
		typed(gwv1.WithKind("TCPRoute"), func(s *resource.Set) *[]*gwapiv1.TCPRoute { return &s.TCPRoutes }),
		typed(gwv1.WithKind("UDPRoute"), func(s *resource.Set) *[]*gwapiv1.UDPRoute { return &s.UDPRoutes }),
		typed(gwv1.WithKind("ReferenceGrant"), func(s *resource.Set) *[]*gwapiv1.ReferenceGrant { return &s.ReferenceGrants }),
		typed(gwv1.WithKind("BackendTLSPolicy"), func(s *resource.Set) *[]*gwapiv1.BackendTLSPolicy { return &s.BackendTLSPolicies }),

		core(typed(corev1.SchemeGroupVersion.WithKind("Namespace"), func(s *resource.Set) *[]*corev1.Namespace { return &s.Namespaces })),
		core(typed(corev1.SchemeGroupVersion.WithKind("Service"), func(s *resource.Set) *[]*corev1.Service { return &s.Services })),
		core(typed(discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), func(s *resource.Set) *[]*discoveryv1.EndpointSlice { return &s.EndpointSlices })),
		core(typed(corev1.SchemeGroupVersion.WithKind("Secret"), func(s *resource.Set) *[]*corev1.Secret { return &s.Secrets })),
		core(typed(corev1.SchemeGroupVersion.WithKind("ConfigMap"), func(s *resource.Set) *[]*corev1.ConfigMap { return &s.ConfigMaps })),

		typed(egv1.WithKind(egv1a1.KindEnvoyProxy), func(s *resource.Set) *[]*egv1a1.EnvoyProxy { return &s.EnvoyProxies }),
		typed(egv1.WithKind(egv1a1.KindEnvoyPatchPolicy), func(s *resource.Set) *[]*egv1a1.EnvoyPatchPolicy { return &s.EnvoyPatchPolicies }),
		typed(egv1.WithKind(egv1a1.KindEnvoyExtensionPolicy), func(s *resource.Set) *[]*egv1a1.EnvoyExtensionPolicy { return &s.EnvoyExtensionPolicies }),
		typed(egv1.WithKind(egv1a1.KindSecurityPolicy), func(s *resource.Set) *[]*egv1a1.SecurityPolicy { return &s.SecurityPolicies }),
		typed(egv1.WithKind(egv1a1.KindBackend), func(s *resource.Set) *[]*egv1a1.Backend { return &s.Backends }),
	}
}
