package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Backend is a set of endpoints (FQDN, IP or unix socket) usable as a
// backendRef by routes and by ext services. It only takes effect when
// extensionApis.enableBackend is on.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=envoy-gateway,shortName=be
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Backend struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackendSpec   `json:"spec"`
	Status BackendStatus `json:"status,omitempty"`
}

// BackendList is a list of Backend.
//
// +kubebuilder:object:root=true
type BackendList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Backend `json:"items"`
}

// BackendType is Endpoints (a fixed list) or DynamicResolver (from the Host header).
//
// +kubebuilder:validation:Enum=Endpoints;DynamicResolver
type BackendType string

// Backend types.
const (
	BackendTypeEndpoints       BackendType = "Endpoints"
	BackendTypeDynamicResolver BackendType = "DynamicResolver"
)

// AppProtocolType is an application protocol spoken by a Backend.
//
// +kubebuilder:validation:Enum=gateway.envoyproxy.io/h2c;gateway.envoyproxy.io/ws;gateway.envoyproxy.io/wss
type AppProtocolType string

// BackendSpec is the desired state of a Backend.
type BackendSpec struct {
	// Type defaults to Endpoints.
	// +optional
	// +kubebuilder:default=Endpoints
	Type *BackendType `json:"type,omitempty"`

	// Endpoints of the backend.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Endpoints []BackendEndpoint `json:"endpoints,omitempty"`

	// AppProtocols spoken by the endpoints.
	// +optional
	AppProtocols []AppProtocolType `json:"appProtocols,omitempty"`

	// Fallback marks the backend as used only when others are unhealthy.
	// +optional
	Fallback *bool `json:"fallback,omitempty"`

	// TLS toward the endpoints; a BackendTLSPolicy takes precedence field by field.
	// +optional
	TLS *BackendTLSSettings `json:"tls,omitempty"`
}

// BackendEndpoint is one address; exactly one of fqdn, ip, unix.
//
// +kubebuilder:validation:XValidation:rule="(has(self.fqdn) ? 1 : 0) + (has(self.ip) ? 1 : 0) + (has(self.unix) ? 1 : 0) == 1",message="exactly one of fqdn, ip or unix must be set"
type BackendEndpoint struct {
	// Hostname is an optional host name for the endpoint.
	// +optional
	Hostname *string `json:"hostname,omitempty"`
	// +optional
	FQDN *FQDNEndpoint `json:"fqdn,omitempty"`
	// +optional
	IP *IPEndpoint `json:"ip,omitempty"`
	// +optional
	Unix *UnixSocket `json:"unix,omitempty"`
	// Zone of the endpoint.
	// +optional
	Zone *string `json:"zone,omitempty"`
}

// BackendTLSSettings is TLS toward a Backend.
type BackendTLSSettings struct {
	// CACertificateRefs are ConfigMaps or Secrets with ca.crt.
	// +optional
	CACertificateRefs []gwapiv1.LocalObjectReference `json:"caCertificateRefs,omitempty"`
	// WellKnownCACertificates: System.
	// +optional
	WellKnownCACertificates *gwapiv1.WellKnownCACertificatesType `json:"wellKnownCACertificates,omitempty"`
	// InsecureSkipVerify skips certificate verification.
	// +optional
	InsecureSkipVerify *bool `json:"insecureSkipVerify,omitempty"`
	// SNI is a fixed server name.
	// +optional
	SNI *gwapiv1.PreciseHostname `json:"sni,omitempty"`
	// AutoSNIFromEndpointHostname uses the endpoint's host name as SNI.
	// +optional
	AutoSNIFromEndpointHostname *bool `json:"autoSNIFromEndpointHostname,omitempty"`
	// BackendTLSConfig fields (client certificate, versions, ciphers, ALPN).
	BackendTLSConfig `json:",inline"`
}

// BackendStatus reports whether the Backend was accepted.
type BackendStatus struct {
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
