package ir

import (
	"encoding/json"
	"strings"
)

// Security features of a route, in Envoy Gateway's IR JSON names, so that
// its xDS translator test inputs run against Portico's translator.

// JWT is JWT authentication with one or more providers.
type JWT struct {
	// AllowMissing lets requests without a token through (a token present
	// must still verify): SecurityPolicy jwt.optional.
	AllowMissing bool `json:"allowMissing,omitempty"`
	// AllowMissingOrFailed lets every request through, verifying what it
	// can (failOpen).
	AllowMissingOrFailed bool          `json:"allowMissingOrFailed,omitempty"`
	Providers            []JWTProvider `json:"providers"`
}

// JWTProvider is one issuer's settings.
type JWTProvider struct {
	Name      string   `json:"name"`
	Issuer    string   `json:"issuer,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
	// Exactly one of RemoteJWKS and LocalJWKS (the JWKS document) is set.
	RemoteJWKS     *RemoteJWKS     `json:"remoteJWKS,omitempty"`
	LocalJWKS      *string         `json:"localJWKS,omitempty"`
	ClaimToHeaders []ClaimToHeader `json:"claimToHeaders,omitempty"`
	RecomputeRoute *bool           `json:"recomputeRoute,omitempty"`
	ExtractFrom    *JWTExtractor   `json:"extractFrom,omitempty"`
}

// MarshalJSON redacts a local JWKS that holds symmetric (HMAC) keys:
// those are secrets, unlike public keys, and IR dumps end up in logs.
func (p JWTProvider) MarshalJSON() ([]byte, error) {
	type plain JWTProvider
	q := plain(p)
	if q.LocalJWKS != nil && strings.Contains(strings.ReplaceAll(*q.LocalJWKS, " ", ""), `"kty":"oct"`) {
		q.LocalJWKS = ptrString("[redacted: holds symmetric keys]")
	}
	return json.Marshal(q)
}

func ptrString(s string) *string { return &s }

// RemoteJWKS is where a provider's keys are fetched from.
type RemoteJWKS struct {
	URI string `json:"uri"`
	// CacheDuration is how long fetched keys are kept ("300s").
	CacheDuration *string `json:"cacheDuration,omitempty"`
	// Destination is the cluster of the policy's backendRefs; without it
	// the cluster is derived from the URI.
	Destination *RouteDestination `json:"destination,omitempty"`
}

// ClaimToHeader copies a claim (a dotted path) to a request header.
type ClaimToHeader struct {
	Header string `json:"header"`
	Claim  string `json:"claim"`
}

// JWTExtractor lists where tokens are looked for.
type JWTExtractor struct {
	Headers []JWTHeaderExtractor `json:"headers,omitempty"`
	Cookies []string             `json:"cookies,omitempty"`
	Params  []string             `json:"params,omitempty"`
}

// JWTHeaderExtractor is a header and the prefix before the token.
type JWTHeaderExtractor struct {
	Name        string  `json:"name"`
	ValuePrefix *string `json:"valuePrefix,omitempty"`
}

// ExtAuth is external authorization over gRPC or HTTP.
type ExtAuth struct {
	// Name is the policy's IR name (securitypolicy/<ns>/<name>).
	Name             string              `json:"name"`
	GRPC             *GRPCExtAuthService `json:"grpc,omitempty"`
	HTTP             *HTTPExtAuthService `json:"http,omitempty"`
	HeadersToExtAuth []string            `json:"headersToExtAuth,omitempty"`
	BodyToExtAuth    *BodyToExtAuth      `json:"bodyToExtAuth,omitempty"`
	FailOpen         *bool               `json:"failOpen,omitempty"`
	RecomputeRoute   *bool               `json:"recomputeRoute,omitempty"`
	// Timeout of a check ("10s" when unset).
	Timeout *string `json:"timeout,omitempty"`
	// StatusOnError is the answer when the service fails (403 when unset).
	StatusOnError        *uint32            `json:"statusOnError,omitempty"`
	IncludeRouteMetadata bool               `json:"includeRouteMetadata,omitempty"`
	ContextExtensions    []ContextExtension `json:"contextExtensions,omitempty"`
}

// GRPCExtAuthService is an envoy.service.auth.v3 server.
type GRPCExtAuthService struct {
	Destination RouteDestination `json:"destination"`
	Authority   string           `json:"authority"`
}

// HTTPExtAuthService is a raw HTTP authorization server.
type HTTPExtAuthService struct {
	Destination      RouteDestination `json:"destination"`
	Authority        string           `json:"authority"`
	Path             string           `json:"path,omitempty"`
	PathOverride     string           `json:"pathOverride,omitempty"`
	HeadersToBackend []string         `json:"headersToBackend,omitempty"`
}

// BodyToExtAuth sends up to MaxRequestBytes of the body to the service.
type BodyToExtAuth struct {
	MaxRequestBytes uint32 `json:"maxRequestBytes"`
}

// ContextExtension is a key and value handed to the service.
type ContextExtension struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// MarshalJSON redacts the value: it may come from a Secret, and IR dumps
// end up in logs (the proxy's config dump redacts it too).
func (c ContextExtension) MarshalJSON() ([]byte, error) {
	type plain ContextExtension
	p := plain(c)
	if len(p.Value) > 0 {
		p.Value = []byte("[redacted]")
	}
	return json.Marshal(p)
}

// CORS is a route's CORS policy.
type CORS struct {
	AllowOrigins     []*StringMatch `json:"allowOrigins,omitempty"`
	AllowMethods     []string       `json:"allowMethods,omitempty"`
	AllowHeaders     []string       `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string       `json:"exposeHeaders,omitempty"`
	MaxAge           *string        `json:"maxAge,omitempty"`
	AllowCredentials bool           `json:"allowCredentials,omitempty"`
}

// APIKeyAuth is API key authentication.
type APIKeyAuth struct {
	Name string `json:"name"`
	// Credentials maps client ids to keys.
	Credentials           map[string][]byte `json:"credentials"`
	ExtractFrom           []*ExtractFrom    `json:"extractFrom"`
	ForwardClientIDHeader *string           `json:"forwardClientIDHeader,omitempty"`
	Sanitize              *bool             `json:"sanitize,omitempty"`
}

// MarshalJSON prints the keys redacted: IR dumps end up in logs and bug
// reports.
func (a APIKeyAuth) MarshalJSON() ([]byte, error) {
	type plain APIKeyAuth
	p := plain(a)
	if len(p.Credentials) > 0 {
		red := make(map[string][]byte, len(p.Credentials))
		for k := range p.Credentials {
			red[k] = []byte("[redacted]")
		}
		p.Credentials = red
	}
	return json.Marshal(p)
}

// ExtractFrom lists where an API key is looked for.
type ExtractFrom struct {
	Headers []string `json:"headers,omitempty"`
	Params  []string `json:"params,omitempty"`
	Cookies []string `json:"cookies,omitempty"`
}

// Authorization is a route's ordered access rules.
type Authorization struct {
	Rules         []*AuthorizationRule `json:"rules,omitempty"`
	DefaultAction string               `json:"defaultAction"`
}

// AuthorizationRule allows or denies requests that match all of its
// conditions.
type AuthorizationRule struct {
	Name      string     `json:"name"`
	Action    string     `json:"action"`
	Operation *Operation `json:"operation,omitempty"`
	Principal Principal  `json:"principal"`
}

// Operation matches the request's method.
type Operation struct {
	Methods []string `json:"methods,omitempty"`
}

// Principal is who the request comes from.
type Principal struct {
	ClientCIDRs []*CIDRMatch   `json:"clientCIDRs,omitempty"`
	JWT         *JWTPrincipal  `json:"jwt,omitempty"`
	Headers     []*HeaderMatch `json:"headers,omitempty"`
}

// CIDRMatch is an address range.
type CIDRMatch struct {
	CIDR    string `json:"cidr"`
	IP      string `json:"ip"`
	MaskLen uint32 `json:"maskLen"`
	IsIPv6  bool   `json:"isIPv6"`
}

// JWTPrincipal matches claims and scopes of a provider's verified token.
type JWTPrincipal struct {
	Provider string     `json:"provider"`
	Scopes   []string   `json:"scopes,omitempty"`
	Claims   []JWTClaim `json:"claims,omitempty"`
}

// JWTClaim is a claim (dotted path) and the values it may have.
type JWTClaim struct {
	Name      string   `json:"name"`
	ValueType *string  `json:"valueType,omitempty"`
	Values    []string `json:"values"`
}

// HeaderMatch is a header and the values it may have.
type HeaderMatch struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}
