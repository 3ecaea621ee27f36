package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is Envoy Gateway's API group; Portico serves the same group so
// that existing manifests and RBAC rules keep working.
const GroupName = "gateway.envoyproxy.io"

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

	// SchemeBuilder collects the functions that add this package's types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names, exported so callers do not scatter string literals.
const (
	KindEnvoyGateway         = "EnvoyGateway"
	KindEnvoyProxy           = "EnvoyProxy"
	KindEnvoyPatchPolicy     = "EnvoyPatchPolicy"
	KindEnvoyExtensionPolicy = "EnvoyExtensionPolicy"
	KindSecurityPolicy       = "SecurityPolicy"
	KindBackend              = "Backend"
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		// EnvoyGateway is a configuration file, not a served resource, but
		// registering it lets the same codecs decode it.
		&EnvoyGateway{},
		&EnvoyProxy{}, &EnvoyProxyList{},
		&EnvoyPatchPolicy{}, &EnvoyPatchPolicyList{},
		&EnvoyExtensionPolicy{}, &EnvoyExtensionPolicyList{},
		&SecurityPolicy{}, &SecurityPolicyList{},
		&Backend{}, &BackendList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
