package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
)

// EnvoyPatchPolicy patches the generated xDS resources of a Gateway (or of a
// GatewayClass when mergeGateways is on) with JSON Patch. It only takes
// effect when EnvoyGateway extensionApis.enableEnvoyPatchPolicy is true.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=envoy-gateway,shortName=epp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EnvoyPatchPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EnvoyPatchPolicySpec   `json:"spec"`
	Status gwapiv1a2.PolicyStatus `json:"status,omitempty"`
}

// EnvoyPatchPolicyList is a list of EnvoyPatchPolicy.
//
// +kubebuilder:object:root=true
type EnvoyPatchPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EnvoyPatchPolicy `json:"items"`
}

// EnvoyPatchType is the patch mechanism.
//
// +kubebuilder:validation:Enum=JSONPatch
type EnvoyPatchType string

// JSONPatchEnvoyPatchType patches resources rendered as protojson with RFC 6902.
const JSONPatchEnvoyPatchType EnvoyPatchType = "JSONPatch"

// EnvoyPatchPolicySpec is the desired state of an EnvoyPatchPolicy.
type EnvoyPatchPolicySpec struct {
	// Type is JSONPatch.
	Type EnvoyPatchType `json:"type"`

	// JSONPatches are applied in order.
	// +optional
	JSONPatches []EnvoyJSONPatchConfig `json:"jsonPatches,omitempty"`

	// TargetRef is the Gateway (or GatewayClass with mergeGateways) whose xDS
	// is patched. Envoy Gateway documents a LocalPolicyTargetReference; the
	// namespaced form is used here because published manifests (and egctl's
	// own test data) carry targetRef.namespace, which must then equal the
	// policy's namespace.
	TargetRef gwapiv1a2.NamespacedPolicyTargetReference `json:"targetRef"`

	// Priority orders policies on the same target: ascending, then creation
	// time, namespace and name. Defaults to 0.
	// +optional
	Priority int32 `json:"priority,omitempty"`
}

// EnvoyResourceType is the type URL of a patchable xDS resource.
//
// +kubebuilder:validation:Enum=type.googleapis.com/envoy.config.listener.v3.Listener;type.googleapis.com/envoy.config.route.v3.RouteConfiguration;type.googleapis.com/envoy.config.cluster.v3.Cluster;type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment;type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
type EnvoyResourceType string

// Patchable xDS resource types.
const (
	ListenerEnvoyResourceType              EnvoyResourceType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteConfigurationEnvoyResourceType    EnvoyResourceType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterEnvoyResourceType               EnvoyResourceType = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	ClusterLoadAssignmentEnvoyResourceType EnvoyResourceType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	SecretEnvoyResourceType                EnvoyResourceType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// EnvoyJSONPatchConfig is one patch on one named xDS resource.
type EnvoyJSONPatchConfig struct {
	// Type is the resource's type URL.
	Type EnvoyResourceType `json:"type"`
	// Name is the resource's name (scheme v1 or v2, see the runtime flag).
	Name string `json:"name"`
	// Operation is the JSON Patch operation.
	Operation JSONPatchOperation `json:"operation"`
}

// Condition types and reasons specific to EnvoyPatchPolicy.
const (
	// PolicyConditionProgrammed says whether the patches were applied.
	PolicyConditionProgrammed = "Programmed"
	// PolicyReasonDisabled: EnvoyPatchPolicy is off in the EnvoyGateway configuration.
	PolicyReasonDisabled = "Disabled"
	// PolicyReasonResourceNotFound: a patched xDS resource does not exist.
	PolicyReasonResourceNotFound = "ResourceNotFound"
)
