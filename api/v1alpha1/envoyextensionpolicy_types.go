package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
)

// EnvoyExtensionPolicy adds Wasm, Lua and external processing filters to the
// routes of the Gateways, HTTPRoutes or GRPCRoutes it targets. A policy on a
// route takes precedence over one on its Gateway.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=envoy-gateway,shortName=eep
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EnvoyExtensionPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EnvoyExtensionPolicySpec `json:"spec"`
	Status gwapiv1a2.PolicyStatus   `json:"status,omitempty"`
}

// EnvoyExtensionPolicyList is a list of EnvoyExtensionPolicy.
//
// +kubebuilder:object:root=true
type EnvoyExtensionPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EnvoyExtensionPolicy `json:"items"`
}

// EnvoyExtensionPolicySpec is the desired state of an EnvoyExtensionPolicy.
//
// +kubebuilder:validation:XValidation:rule="(has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) + (has(self.targetSelectors) ? 1 : 0) == 1",message="exactly one of targetRef, targetRefs or targetSelectors must be set"
type EnvoyExtensionPolicySpec struct {
	PolicyTargetReferences `json:",inline"`

	// Wasm extensions, loaded in list order.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Wasm []Wasm `json:"wasm,omitempty"`

	// ExtProc filters, in list order.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	ExtProc []ExtProc `json:"extProc,omitempty"`

	// Lua filters, in list order.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Lua []Lua `json:"lua,omitempty"`

	// DynamicModule filters. Preserved, not yet interpreted.
	// +optional
	DynamicModule []apiextensionsv1.JSON `json:"dynamicModule,omitempty"`
}

// Wasm is one proxy-wasm HTTP filter.
type Wasm struct {
	// Name identifies the extension; generated when empty.
	// +optional
	Name *string `json:"name,omitempty"`

	// RootID must match the root_id the module registers its root context with.
	// +optional
	RootID *string `json:"rootID,omitempty"`

	// Code is where the module comes from.
	Code WasmCodeSource `json:"code"`

	// Config is passed to the module as a JSON string; any JSON is allowed.
	// +optional
	Config *apiextensionsv1.JSON `json:"config,omitempty"`

	// FailOpen lets traffic through when the module fails to load or run.
	// +optional
	FailOpen *bool `json:"failOpen,omitempty"`

	// Env passes host environment variables to the VM.
	// +optional
	Env *WasmEnv `json:"env,omitempty"`
}

// WasmCodeSourceType is where Wasm code comes from.
//
// +kubebuilder:validation:Enum=HTTP;Image;ConfigMap
type WasmCodeSourceType string

// Wasm code sources.
const (
	HTTPWasmCodeSourceType  WasmCodeSourceType = "HTTP"
	ImageWasmCodeSourceType WasmCodeSourceType = "Image"
	// ConfigMapWasmCodeSourceType reads the module from a ConfigMap's binaryData.
	ConfigMapWasmCodeSourceType WasmCodeSourceType = "ConfigMap"
)

// WasmCodeSource says where the module is fetched from.
//
// +kubebuilder:validation:XValidation:rule="self.type == 'HTTP' ? has(self.http) : !has(self.http)",message="http must be set for type HTTP, and only for it"
// +kubebuilder:validation:XValidation:rule="self.type == 'Image' ? has(self.image) : !has(self.image)",message="image must be set for type Image, and only for it"
type WasmCodeSource struct {
	// Type is HTTP, Image or ConfigMap.
	Type WasmCodeSourceType `json:"type"`
	// HTTP source.
	// +optional
	HTTP *HTTPWasmCodeSource `json:"http,omitempty"`
	// Image (OCI) source.
	// +optional
	Image *ImageWasmCodeSource `json:"image,omitempty"`
	// ConfigMap source (a ConfigMap in the policy's namespace).
	// +optional
	ConfigMap *ConfigMapWasmCodeSource `json:"configMap,omitempty"`
	// PullPolicy: IfNotPresent, or Always (the default for :latest images).
	// +optional
	PullPolicy *ImagePullPolicy `json:"pullPolicy,omitempty"`
}

// HTTPWasmCodeSource is a module at an HTTP(S) URL.
type HTTPWasmCodeSource struct {
	// URL of the module.
	// +kubebuilder:validation:MinLength=1
	URL string `json:"url"`
	// SHA256 of the module; when set, a mismatch rejects it.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	SHA256 *string `json:"sha256,omitempty"`
	// TLS trust for the URL.
	// +optional
	TLS *WasmCodeSourceTLSConfig `json:"tls,omitempty"`
}

// ImageWasmCodeSource is a module in an OCI image or artifact.
type ImageWasmCodeSource struct {
	// URL of the image; :latest is implied without tag or digest.
	// +kubebuilder:validation:MinLength=1
	URL string `json:"url"`
	// SHA256 of the image.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	SHA256 *string `json:"sha256,omitempty"`
	// PullSecretRef is a Secret of type kubernetes.io/dockerconfigjson.
	// +optional
	PullSecretRef *gwapiv1.SecretObjectReference `json:"pullSecretRef,omitempty"`
	// TLS trust for the registry.
	// +optional
	TLS *WasmCodeSourceTLSConfig `json:"tls,omitempty"`
}

// ConfigMapWasmCodeSource is a module held in a ConfigMap.
type ConfigMapWasmCodeSource struct {
	// Name of the ConfigMap.
	Name string `json:"name"`
	// Key holding the module; defaults to plugin.wasm.
	// +optional
	Key *string `json:"key,omitempty"`
}

// WasmCodeSourceTLSConfig is the CA used to verify a Wasm source.
type WasmCodeSourceTLSConfig struct {
	// CACertificateRef is a ConfigMap, Secret or ClusterTrustBundle with the CA.
	CACertificateRef gwapiv1.SecretObjectReference `json:"caCertificateRef"`
}

// WasmEnv lists host environment variables visible to the VM.
type WasmEnv struct {
	// +optional
	HostKeys []string `json:"hostKeys,omitempty"`
}

// LuaValueType is where a Lua script comes from.
//
// +kubebuilder:validation:Enum=Inline;ValueRef
type LuaValueType string

// Lua sources.
const (
	LuaValueTypeInline   LuaValueType = "Inline"
	LuaValueTypeValueRef LuaValueType = "ValueRef"
)

// Lua is one Lua HTTP filter. The script must define envoy_on_request or
// envoy_on_response. It only takes effect when extensionApis.enableLua is on.
//
// +kubebuilder:validation:XValidation:rule="self.type == 'Inline' ? (has(self.inline) && !has(self.valueRef)) : (has(self.valueRef) && !has(self.inline))",message="set inline for type Inline, valueRef for type ValueRef"
type Lua struct {
	// Type is Inline or ValueRef.
	// +kubebuilder:default=Inline
	Type LuaValueType `json:"type"`
	// Inline script.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	Inline *string `json:"inline,omitempty"`
	// ValueRef is a ConfigMap; the script is under key "lua", else the first key.
	// +optional
	ValueRef *gwapiv1.LocalObjectReference `json:"valueRef,omitempty"`
	// FilterContext is exposed to the script through filterContext(); any JSON object.
	// +optional
	FilterContext *apiextensionsv1.JSON `json:"filterContext,omitempty"`
}

// ExtProc is one external processing (ext_proc) filter.
type ExtProc struct {
	BackendCluster `json:",inline"`

	// MessageTimeout for each message to the processor. Default 200ms.
	// +optional
	MessageTimeout *gwapiv1.Duration `json:"messageTimeout,omitempty"`

	// FailOpen lets traffic through when the processor cannot be reached.
	// +optional
	// +kubebuilder:default=false
	FailOpen *bool `json:"failOpen,omitempty"`

	// ProcessingMode says what is sent; by default nothing is.
	// +optional
	ProcessingMode *ExtProcProcessingMode `json:"processingMode,omitempty"`

	// Metadata namespaces readable and writable by the processor.
	// +optional
	Metadata *ExtProcMetadata `json:"metadata,omitempty"`

	// ShadowMode sends to the processor without waiting for its answers
	// (observability mode): the request is never changed or held.
	// +optional
	ShadowMode *bool `json:"shadowMode,omitempty"`

	// StatusOnError is the HTTP status a request gets when processing fails
	// and failOpen is not set. Default 500.
	// +optional
	// +kubebuilder:validation:Enum=400;401;403;404;405;406;407;408;409;410;411;412;413;414;415;416;417;421;422;423;424;425;426;428;429;431;500;501;502;503;504;505;506;507;508;510;511
	StatusOnError *int32 `json:"statusOnError,omitempty"`
}

// ExtProcProcessingMode says what headers and bodies are sent.
type ExtProcProcessingMode struct {
	// Request: present (even empty) means request headers are sent.
	// +optional
	Request *ProcessingModeOptions `json:"request,omitempty"`
	// Response: present (even empty) means response headers are sent.
	// +optional
	Response *ProcessingModeOptions `json:"response,omitempty"`
	// AllowModeOverride lets the processor change the mode per message.
	// +optional
	AllowModeOverride bool `json:"allowModeOverride,omitempty"`
}

// ExtProcBodyProcessingMode is how a body is sent.
//
// +kubebuilder:validation:Enum=Streamed;Buffered;BufferedPartial;FullDuplexStreamed
type ExtProcBodyProcessingMode string

// Body processing modes.
const (
	StreamedExtProcBodyProcessingMode           ExtProcBodyProcessingMode = "Streamed"
	BufferedExtProcBodyProcessingMode           ExtProcBodyProcessingMode = "Buffered"
	BufferedPartialExtProcBodyProcessingMode    ExtProcBodyProcessingMode = "BufferedPartial"
	FullDuplexStreamedExtProcBodyProcessingMode ExtProcBodyProcessingMode = "FullDuplexStreamed"
)

// ProcessingModeOptions for one direction.
type ProcessingModeOptions struct {
	// Body mode; no body is sent when unset.
	// +optional
	Body *ExtProcBodyProcessingMode `json:"body,omitempty"`
	// Attributes (CEL attribute names) sent with the headers.
	// +optional
	Attributes []string `json:"attributes,omitempty"`
}

// ExtProcMetadata lists dynamic metadata namespaces.
type ExtProcMetadata struct {
	// +optional
	AccessibleNamespaces []string `json:"accessibleNamespaces,omitempty"`
	// +optional
	WritableNamespaces []string `json:"writableNamespaces,omitempty"`
}
