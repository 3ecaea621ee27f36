package resource

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// kindEntry says how one kind is checked and where it goes in the Set.
//
//   - CRD-backed kinds (crd true) are validated against the embedded CRD schema of the
//     version written, then decoded into newObj's type.
//   - Core kinds (crd false) have no CRD; they are decoded strictly into their Go type
//     (unknown and duplicate fields reported), for the versions listed.
//   - add == nil means "tolerated and ignored": checked, then dropped. Manifests written
//     for a cluster carry Deployments and ServiceAccounts next to the Gateway API objects.
type kindEntry struct {
	group, kind string
	crd         bool
	versions    []string // core kinds only: accepted versions
	clusterWide bool     // core kinds only; CRDs say it in spec.scope
	newObj      func() any
	add         func(s *Set, obj any)
}

const gatewayGroup = "gateway.networking.k8s.io"

// typed builds an entry whose objects are appended to the Set list that list returns.
// Registering a kind is one line in a table below.
func typed[T any](group, kind string, crd bool, list func(*Set) *[]*T) kindEntry {
	return kindEntry{
		group: group, kind: kind, crd: crd,
		newObj: func() any { return new(T) },
		add: func(s *Set, obj any) {
			l := list(s)
			*l = append(*l, obj.(*T))
		},
	}
}

func core[T any](group, kind string, versions []string, list func(*Set) *[]*T) kindEntry {
	e := typed(group, kind, false, list)
	e.versions = versions
	return e
}

// ignored builds an entry for a tolerated kind: strictly decoded into T, then dropped.
func ignored[T any](group, kind string, versions ...string) kindEntry {
	return kindEntry{group: group, kind: kind, versions: versions, newObj: func() any { return new(T) }}
}

var v1 = []string{"v1"}

var kindTable = func() map[string]kindEntry {
	entries := []kindEntry{
		typed(gatewayGroup, "GatewayClass", true, func(s *Set) *[]*gwapiv1.GatewayClass { return &s.GatewayClasses }),
		typed(gatewayGroup, "Gateway", true, func(s *Set) *[]*gwapiv1.Gateway { return &s.Gateways }),
		typed(gatewayGroup, "ListenerSet", true, func(s *Set) *[]*gwapiv1.ListenerSet { return &s.ListenerSets }),
		typed(gatewayGroup, "HTTPRoute", true, func(s *Set) *[]*gwapiv1.HTTPRoute { return &s.HTTPRoutes }),
		typed(gatewayGroup, "GRPCRoute", true, func(s *Set) *[]*gwapiv1.GRPCRoute { return &s.GRPCRoutes }),
		typed(gatewayGroup, "TLSRoute", true, func(s *Set) *[]*gwapiv1.TLSRoute { return &s.TLSRoutes }),
		typed(gatewayGroup, "TCPRoute", true, func(s *Set) *[]*gwapiv1.TCPRoute { return &s.TCPRoutes }),
		typed(gatewayGroup, "UDPRoute", true, func(s *Set) *[]*gwapiv1.UDPRoute { return &s.UDPRoutes }),
		typed(gatewayGroup, "ReferenceGrant", true, func(s *Set) *[]*gwapiv1.ReferenceGrant { return &s.ReferenceGrants }),
		typed(gatewayGroup, "BackendTLSPolicy", true, func(s *Set) *[]*gwapiv1.BackendTLSPolicy { return &s.BackendTLSPolicies }),

		clusterScoped(core("", "Namespace", v1, func(s *Set) *[]*corev1.Namespace { return &s.Namespaces })),
		core("", "Service", v1, func(s *Set) *[]*corev1.Service { return &s.Services }),
		core("discovery.k8s.io", "EndpointSlice", v1, func(s *Set) *[]*discoveryv1.EndpointSlice { return &s.EndpointSlices }),
		core("", "Secret", v1, func(s *Set) *[]*corev1.Secret { return &s.Secrets }),
		core("", "ConfigMap", v1, func(s *Set) *[]*corev1.ConfigMap { return &s.ConfigMaps }),

		ignored[corev1.ServiceAccount]("", "ServiceAccount", "v1"),
		ignored[corev1.Pod]("", "Pod", "v1"),
		ignored[corev1.Endpoints]("", "Endpoints", "v1"),
		ignored[appsv1.Deployment]("apps", "Deployment", "v1"),
		ignored[appsv1.StatefulSet]("apps", "StatefulSet", "v1"),
		ignored[appsv1.DaemonSet]("apps", "DaemonSet", "v1"),
		ignored[appsv1.ReplicaSet]("apps", "ReplicaSet", "v1"),
		ignored[batchv1.Job]("batch", "Job", "v1"),
		ignored[batchv1.CronJob]("batch", "CronJob", "v1"),
		ignored[autoscalingv2.HorizontalPodAutoscaler]("autoscaling", "HorizontalPodAutoscaler", "v2"),
		ignored[policyv1.PodDisruptionBudget]("policy", "PodDisruptionBudget", "v1"),
		ignored[networkingv1.NetworkPolicy]("networking.k8s.io", "NetworkPolicy", "v1"),
		ignored[rbacv1.Role]("rbac.authorization.k8s.io", "Role", "v1"),
		ignored[rbacv1.RoleBinding]("rbac.authorization.k8s.io", "RoleBinding", "v1"),
		clusterScoped(ignored[rbacv1.ClusterRole]("rbac.authorization.k8s.io", "ClusterRole", "v1")),
		clusterScoped(ignored[rbacv1.ClusterRoleBinding]("rbac.authorization.k8s.io", "ClusterRoleBinding", "v1")),
		// CRDs travel with extension servers' manifests. Not validated (no Go type here);
		// pass them to WithCRDs to validate the extension's objects.
		clusterScoped(kindEntry{group: "apiextensions.k8s.io", kind: "CustomResourceDefinition", versions: v1}),
	}
	entries = append(entries, egEntries()...)
	m := make(map[string]kindEntry, len(entries))
	for _, e := range entries {
		m[gkKey(e.group, e.kind)] = e
	}
	return m
}()

func clusterScoped(e kindEntry) kindEntry {
	e.clusterWide = true
	return e
}
