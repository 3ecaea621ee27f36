package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
)

// SecurityPolicy configures authentication and authorization (JWT, external
// authorization, basic auth, CORS, ...) for the resources it targets.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=envoy-gateway,shortName=sp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SecurityPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SecurityPolicySpec     `json:"spec"`
	Status gwapiv1a2.PolicyStatus `json:"status,omitempty"`
}

// SecurityPolicyList is a list of SecurityPolicy.
//
// +kubebuilder:object:root=true
type SecurityPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecurityPolicy `json:"items"`
}

// SecurityPolicySpec is the desired state of a SecurityPolicy.
//
// +kubebuilder:validation:XValidation:rule="(has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) + (has(self.targetSelectors) ? 1 : 0) == 1",message="exactly one of targetRef, targetRefs or targetSelectors must be set"
type SecurityPolicySpec struct {
	PolicyTargetReferences `json:",inline"`

	// APIKeyAuth settings. Preserved, not yet interpreted.
	// +optional
	APIKeyAuth *apiextensionsv1.JSON `json:"apiKeyAuth,omitempty"`

	// CORS settings.
	// +optional
	CORS *CORS `json:"cors,omitempty"`

	// BasicAuth checks credentials against an htpasswd Secret.
	// +optional
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`

	// JWT authentication.
	// +optional
	JWT *JWT `json:"jwt,omitempty"`

	// OIDC authentication. Preserved, not yet interpreted.
	// +optional
	OIDC *apiextensionsv1.JSON `json:"oidc,omitempty"`

	// ExtAuth delegates the decision to an external gRPC or HTTP service.
	// +optional
	ExtAuth *ExtAuth `json:"extAuth,omitempty"`

	// Authorization rules evaluated after authentication.
	// +optional
	Authorization *Authorization `json:"authorization,omitempty"`
}

// CORS configures cross-origin resource sharing.
type CORS struct {
	// +optional
	AllowOrigins []string `json:"allowOrigins,omitempty"`
	// +optional
	AllowMethods []string `json:"allowMethods,omitempty"`
	// +optional
	AllowHeaders []string `json:"allowHeaders,omitempty"`
	// +optional
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// +optional
	MaxAge *gwapiv1.Duration `json:"maxAge,omitempty"`
	// +optional
	AllowCredentials *bool `json:"allowCredentials,omitempty"`
}

// BasicAuth checks HTTP basic credentials.
type BasicAuth struct {
	// Users is an Opaque Secret whose ".htpasswd" key holds user:{SHA}hash lines.
	Users gwapiv1.SecretObjectReference `json:"users"`
	// ForwardUsernameHeader, when set, carries the authenticated user to the backend.
	// +optional
	ForwardUsernameHeader *string `json:"forwardUsernameHeader,omitempty"`
}

// JWT configures JWT authentication.
type JWT struct {
	// Optional lets requests without a token through (a bad token is still rejected).
	// +optional
	Optional *bool `json:"optional,omitempty"`
	// Providers; a token is accepted when any provider validates it.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	Providers []JWTProvider `json:"providers"`
}

// JWTProvider says how to verify one issuer's tokens.
//
// +kubebuilder:validation:XValidation:rule="(has(self.remoteJWKS) ? 1 : 0) + (has(self.localJWKS) ? 1 : 0) == 1",message="exactly one of remoteJWKS or localJWKS must be set"
type JWTProvider struct {
	// Name is unique within the policy and used by authorization rules.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Issuer (iss) to require; unchecked when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Issuer string `json:"issuer,omitempty"`
	// Audiences (aud) accepted; unchecked when empty.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Audiences []string `json:"audiences,omitempty"`
	// RemoteJWKS fetches keys over HTTP(S).
	// +optional
	RemoteJWKS *RemoteJWKS `json:"remoteJWKS,omitempty"`
	// LocalJWKS holds keys inline or in a ConfigMap.
	// +optional
	LocalJWKS *LocalJWKS `json:"localJWKS,omitempty"`
	// ClaimToHeaders copies claims into request headers.
	// +optional
	ClaimToHeaders []ClaimToHeader `json:"claimToHeaders,omitempty"`
	// RecomputeRoute re-selects the route after headers are added.
	// +optional
	RecomputeRoute *bool `json:"recomputeRoute,omitempty"`
	// ExtractFrom lists where tokens are read; defaults to the Bearer
	// Authorization header and the access_token query parameter.
	// +optional
	ExtractFrom *JWTExtractor `json:"extractFrom,omitempty"`
}

// RemoteJWKS is a JWKS URI and optionally the backend serving it.
type RemoteJWKS struct {
	BackendCluster `json:",inline"`
	// URI of the JWKS.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	URI string `json:"uri"`
	// CacheDuration of fetched keys. Default 5m.
	// +optional
	CacheDuration *gwapiv1.Duration `json:"cacheDuration,omitempty"`
}

// LocalJWKSType is where local keys come from.
//
// +kubebuilder:validation:Enum=Inline;ValueRef
type LocalJWKSType string

// LocalJWKS is a key set held in the policy or a ConfigMap.
//
// +kubebuilder:validation:XValidation:rule="self.type == 'Inline' ? has(self.inline) : has(self.valueRef)",message="set inline for type Inline, valueRef for type ValueRef"
type LocalJWKS struct {
	// Type is Inline or ValueRef. Defaults to Inline.
	// +optional
	// +kubebuilder:default=Inline
	Type *LocalJWKSType `json:"type,omitempty"`
	// Inline JWKS JSON.
	// +optional
	Inline *string `json:"inline,omitempty"`
	// ValueRef is a ConfigMap holding the JWKS under key "jwks".
	// +optional
	ValueRef *gwapiv1.LocalObjectReference `json:"valueRef,omitempty"`
}

// ClaimToHeader copies a (possibly nested, dot separated) claim to a header.
type ClaimToHeader struct {
	Header string `json:"header"`
	Claim  string `json:"claim"`
}

// JWTExtractor lists token locations.
type JWTExtractor struct {
	// +optional
	Headers []JWTHeaderExtractor `json:"headers,omitempty"`
	// +optional
	Cookies []string `json:"cookies,omitempty"`
	// +optional
	Params []string `json:"params,omitempty"`
}

// JWTHeaderExtractor reads a token from a header, stripping a prefix.
type JWTHeaderExtractor struct {
	Name string `json:"name"`
	// ValuePrefix is stripped, e.g. "Bearer ".
	// +optional
	ValuePrefix *string `json:"valuePrefix,omitempty"`
}

// ExtAuth calls an external authorization service.
//
// +kubebuilder:validation:XValidation:rule="(has(self.grpc) ? 1 : 0) + (has(self.http) ? 1 : 0) == 1",message="exactly one of grpc or http must be set"
type ExtAuth struct {
	// GRPC is an ext_authz v3 gRPC service.
	// +optional
	GRPC *GRPCExtAuthService `json:"grpc,omitempty"`
	// HTTP is a plain HTTP service.
	// +optional
	HTTP *HTTPExtAuthService `json:"http,omitempty"`
	// HeadersToExtAuth limits the request headers sent (gRPC sends all by default).
	// +optional
	HeadersToExtAuth []string `json:"headersToExtAuth,omitempty"`
	// BodyToExtAuth sends the request body, up to a size.
	// +optional
	BodyToExtAuth *BodyToExtAuth `json:"bodyToExtAuth,omitempty"`
	// Timeout of the check. Default 10s.
	// +optional
	Timeout *gwapiv1.Duration `json:"timeout,omitempty"`
	// FailOpen allows requests when the service fails.
	// +optional
	FailOpen *bool `json:"failOpen,omitempty"`
	// RecomputeRoute re-selects the route after the service adds headers.
	// +optional
	RecomputeRoute *bool `json:"recomputeRoute,omitempty"`
	// IncludeRouteMetadata sends the route's resource metadata as context.
	// +optional
	IncludeRouteMetadata *bool `json:"includeRouteMetadata,omitempty"`
	// ContextExtensions sent to the service. Preserved, not yet interpreted.
	// +optional
	ContextExtensions []apiextensionsv1.JSON `json:"contextExtensions,omitempty"`
	// StatusOnError is returned when the service fails. Default 403.
	// +optional
	// +kubebuilder:validation:Minimum=400
	// +kubebuilder:validation:Maximum=599
	StatusOnError *int32 `json:"statusOnError,omitempty"`
}

// GRPCExtAuthService is a gRPC ext_authz service.
type GRPCExtAuthService struct {
	BackendCluster `json:",inline"`
}

// HTTPExtAuthService is an HTTP ext_authz service.
type HTTPExtAuthService struct {
	BackendCluster `json:",inline"`
	// Path is prefixed to the original request path.
	// +optional
	Path *string `json:"path,omitempty"`
	// PathOverride replaces the original request path.
	// +optional
	PathOverride *string `json:"pathOverride,omitempty"`
	// HeadersToBackend are response headers copied to the upstream request.
	// +optional
	HeadersToBackend []string `json:"headersToBackend,omitempty"`
}

// BodyToExtAuth sends the request body to the authorization service.
type BodyToExtAuth struct {
	// MaxRequestBytes buffered; larger bodies get 413.
	// +kubebuilder:validation:Minimum=1
	MaxRequestBytes uint32 `json:"maxRequestBytes"`
}

// AuthorizationAction is Allow or Deny.
//
// +kubebuilder:validation:Enum=Allow;Deny
type AuthorizationAction string

// Authorization is an ordered rule list; the first match decides.
type Authorization struct {
	// +optional
	Rules []AuthorizationRule `json:"rules,omitempty"`
	// DefaultAction when no rule matches. Default Deny.
	// +optional
	DefaultAction *AuthorizationAction `json:"defaultAction,omitempty"`
}

// AuthorizationRule is one rule.
type AuthorizationRule struct {
	// +optional
	Name *string `json:"name,omitempty"`
	// Action when the rule matches.
	Action AuthorizationAction `json:"action"`
	// Operation (methods, ...) matched. Preserved, not yet interpreted.
	// +optional
	Operation *apiextensionsv1.JSON `json:"operation,omitempty"`
	// Principal matched; all of its parts must match.
	Principal Principal `json:"principal"`
}

// Principal is the client identity a rule matches.
type Principal struct {
	// ClientCIDRs of the client.
	// +optional
	ClientCIDRs []string `json:"clientCIDRs,omitempty"`
	// JWT claims and scopes.
	// +optional
	JWT *JWTPrincipal `json:"jwt,omitempty"`
	// Headers that must match. Preserved, not yet interpreted.
	// +optional
	Headers []apiextensionsv1.JSON `json:"headers,omitempty"`
	// SourceCIDRs of the direct peer. Preserved, not yet interpreted.
	// +optional
	SourceCIDRs []string `json:"sourceCIDRs,omitempty"`
	// ClientIPGeoLocations matched. Preserved, not yet interpreted.
	// +optional
	ClientIPGeoLocations []apiextensionsv1.JSON `json:"clientIPGeoLocations,omitempty"`
}

// JWTPrincipal matches claims and scopes of a verified token.
type JWTPrincipal struct {
	// Provider is the JWT provider name in the same policy.
	Provider string `json:"provider"`
	// +optional
	Claims []JWTClaim `json:"claims,omitempty"`
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// JWTClaim matches one claim.
type JWTClaim struct {
	Name string `json:"name"`
	// ValueType is String (default) or StringArray.
	// +optional
	// +kubebuilder:validation:Enum=String;StringArray
	ValueType *string  `json:"valueType,omitempty"`
	Values    []string `json:"values"`
}
