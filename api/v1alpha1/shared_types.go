package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
)

// PolicyTargetReferences is the attachment block shared by the policies
// (EnvoyExtensionPolicy, SecurityPolicy). Exactly one of the three forms must
// be used; the CEL rule lives on each policy spec because controller-gen
// cannot attach an XValidation to an inlined struct.
type PolicyTargetReferences struct {
	// TargetRef is the single resource this policy attaches to.
	// Deprecated in Envoy Gateway in favour of targetRefs, still accepted.
	//
	// +optional
	TargetRef *gwapiv1a2.LocalPolicyTargetReferenceWithSectionName `json:"targetRef,omitempty"`

	// TargetRefs are the resources (Gateway, HTTPRoute, GRPCRoute, ...) in the
	// policy's namespace that this policy attaches to.
	//
	// +optional
	// +kubebuilder:validation:MaxItems=16
	TargetRefs []gwapiv1a2.LocalPolicyTargetReferenceWithSectionName `json:"targetRefs,omitempty"`

	// TargetSelectors select target resources by label in the policy's namespace.
	//
	// +optional
	TargetSelectors []TargetSelector `json:"targetSelectors,omitempty"`
}

// TargetSelector selects the resources a policy attaches to by kind and labels.
type TargetSelector struct {
	// Group of the target resource. Defaults to gateway.networking.k8s.io.
	//
	// +optional
	// +kubebuilder:default:=gateway.networking.k8s.io
	Group *gwapiv1.Group `json:"group,omitempty"`

	// Kind of the target resource, e.g. HTTPRoute.
	Kind gwapiv1.Kind `json:"kind"`

	// MatchLabels are the labels a target must carry (ANDed).
	//
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`

	// MatchExpressions are label selector requirements (ANDed).
	//
	// +optional
	MatchExpressions []metav1.LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// BackendRef is a Gateway API BackendObjectReference plus the weight and
// fallback knobs Envoy Gateway adds for the services its filters call.
type BackendRef struct {
	gwapiv1.BackendObjectReference `json:",inline"`

	// Weight is the share of requests sent to this backend. Defaults to 1.
	//
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Weight *int32 `json:"weight,omitempty"`

	// Fallback marks the backend as used only when the others are unhealthy.
	//
	// +optional
	Fallback *bool `json:"fallback,omitempty"`
}

// BackendCluster names the backends an external service (ext_authz,
// ext_proc, JWKS, ...) is reached at, and how to connect to them.
type BackendCluster struct {
	// BackendRef is a single backend. Deprecated in Envoy Gateway in favour of
	// backendRefs, still accepted.
	//
	// +optional
	BackendRef *gwapiv1.BackendObjectReference `json:"backendRef,omitempty"`

	// BackendRefs are the backends the requests are sent to.
	//
	// +optional
	// +kubebuilder:validation:MaxItems=16
	BackendRefs []BackendRef `json:"backendRefs,omitempty"`

	// BackendSettings tunes the connection to the backends.
	//
	// +optional
	BackendSettings *ClusterSettings `json:"backendSettings,omitempty"`
}

// ClusterSettings tunes how the proxy connects to a backend cluster. The
// field names are Envoy Gateway's; their contents are kept as raw JSON until
// Portico's translator interprets them, so valid manifests are never
// rejected for using a knob we do not model yet.
type ClusterSettings struct {
	// LoadBalancer policy (type, consistentHash, slowStart, ...). Preserved, not yet interpreted.
	// +optional
	LoadBalancer *apiextensionsv1.JSON `json:"loadBalancer,omitempty"`
	// Retry policy. Preserved, not yet interpreted.
	// +optional
	Retry *apiextensionsv1.JSON `json:"retry,omitempty"`
	// ProxyProtocol settings. Preserved, not yet interpreted.
	// +optional
	ProxyProtocol *apiextensionsv1.JSON `json:"proxyProtocol,omitempty"`
	// TCPKeepalive settings. Preserved, not yet interpreted.
	// +optional
	TCPKeepalive *apiextensionsv1.JSON `json:"tcpKeepalive,omitempty"`
	// HealthCheck (active/passive). Preserved, not yet interpreted.
	// +optional
	HealthCheck *apiextensionsv1.JSON `json:"healthCheck,omitempty"`
	// CircuitBreaker thresholds. Preserved, not yet interpreted.
	// +optional
	CircuitBreaker *apiextensionsv1.JSON `json:"circuitBreaker,omitempty"`
	// Timeout settings (tcp, http). Preserved, not yet interpreted.
	// +optional
	Timeout *apiextensionsv1.JSON `json:"timeout,omitempty"`
	// Connection settings (bufferLimit, preconnect). Preserved, not yet interpreted.
	// +optional
	Connection *apiextensionsv1.JSON `json:"connection,omitempty"`
	// DNS resolution settings. Preserved, not yet interpreted.
	// +optional
	DNS *apiextensionsv1.JSON `json:"dns,omitempty"`
	// HTTP2 settings. Preserved, not yet interpreted.
	// +optional
	HTTP2 *apiextensionsv1.JSON `json:"http2,omitempty"`
}

// FQDNEndpoint is a host name and port, resolved by DNS.
type FQDNEndpoint struct {
	// Hostname is the fully qualified domain name.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Hostname string `json:"hostname"`

	// Port is the TCP port.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// IPEndpoint is a literal IPv4 or IPv6 address and port.
type IPEndpoint struct {
	// Address is the IP address (IPv4 or IPv6).
	//
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=45
	Address string `json:"address"`

	// Port is the TCP port.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// UnixSocket is a unix domain socket path; used for sidecars such as OPA.
type UnixSocket struct {
	// Path of the socket file.
	//
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path"`
}

// LogLevel is a logging verbosity.
//
// +kubebuilder:validation:Enum=trace;debug;info;warn;error
type LogLevel string

// Log levels.
const (
	LogLevelTrace LogLevel = "trace"
	LogLevelDebug LogLevel = "debug"
	LogLevelInfo  LogLevel = "info"
	LogLevelWarn  LogLevel = "warn"
	LogLevelError LogLevel = "error"
)

// MergeType is how a Kubernetes patch (or a more specific EnvoyProxy) is applied.
//
// +kubebuilder:validation:Enum=StrategicMerge;JSONMerge
type MergeType string

// Merge types.
const (
	StrategicMerge MergeType = "StrategicMerge"
	JSONMerge      MergeType = "JSONMerge"
)

// KubernetesPatchSpec patches a generated Kubernetes object.
type KubernetesPatchSpec struct {
	// Type of merge. Defaults to StrategicMerge.
	//
	// +optional
	Type *MergeType `json:"type,omitempty"`

	// Value is the patch document (any JSON/YAML object).
	Value apiextensionsv1.JSON `json:"value"`
}

// JSONPatchOperationType is an RFC 6902 operation.
//
// +kubebuilder:validation:Enum=add;remove;replace;move;copy;test
type JSONPatchOperationType string

// RFC 6902 operations.
const (
	JSONPatchOperationAdd     JSONPatchOperationType = "add"
	JSONPatchOperationRemove  JSONPatchOperationType = "remove"
	JSONPatchOperationReplace JSONPatchOperationType = "replace"
	JSONPatchOperationMove    JSONPatchOperationType = "move"
	JSONPatchOperationCopy    JSONPatchOperationType = "copy"
	JSONPatchOperationTest    JSONPatchOperationType = "test"
)

// JSONPatchOperation is one RFC 6902 operation, optionally anchored by an
// RFC 9535 JSONPath: path is then appended to every node jsonPath selects.
// The from/op pairing is checked by the patch stage, not the schema, so a bad
// operation surfaces as a status condition on the policy (as in Envoy Gateway)
// instead of an apply-time rejection.
type JSONPatchOperation struct {
	// Op is the operation.
	Op JSONPatchOperationType `json:"op"`

	// Path is a JSON Pointer (RFC 6901); relative to each jsonPath match when jsonPath is set.
	//
	// +optional
	Path *string `json:"path,omitempty"`

	// JSONPath selects the nodes to patch (RFC 9535 with match()/search()).
	//
	// +optional
	JSONPath *string `json:"jsonPath,omitempty"`

	// From is the source JSON Pointer for move and copy.
	//
	// +optional
	From *string `json:"from,omitempty"`

	// Value is the JSON value for add, replace and test; any JSON is allowed.
	//
	// +optional
	Value *apiextensionsv1.JSON `json:"value,omitempty"`
}

// ImagePullPolicy says when a remote artifact (Wasm module) is fetched again.
//
// +kubebuilder:validation:Enum=IfNotPresent;Always
type ImagePullPolicy string

// Pull policies.
const (
	ImagePullPolicyIfNotPresent ImagePullPolicy = "IfNotPresent"
	ImagePullPolicyAlways       ImagePullPolicy = "Always"
)
