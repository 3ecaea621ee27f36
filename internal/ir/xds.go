// Package ir is the intermediate representation between the Gateway API
// translator and the xDS translator.
//
// The JSON field names follow Envoy Gateway's IR on purpose: the xDS
// translator's compatibility tests feed Envoy Gateway's own IR test inputs
// (testdata copied from ../shared/corpus/xds-translator/in) straight into
// Portico's xDS translator and compare with Envoy Gateway's expected xDS.
// The IR is data only: no methods with side effects, no references to
// Kubernetes objects, so both translators stay pure functions.
package ir

import "encoding/json"

// Xds is everything the xDS translator needs for one proxy fleet: one
// Gateway, or one GatewayClass when mergeGateways is on.
type Xds struct {
	// ReadyListener is the proxy's readiness endpoint (Envoy Gateway's
	// envoy-gateway-proxy-ready listener on 0.0.0.0:19003 /ready).
	ReadyListener *ReadyListener `json:"readyListener,omitempty"`
	// AccessLog applies to every listener.
	AccessLog *AccessLog `json:"accessLog,omitempty"`
	// HTTP holds the HTTP and HTTPS listeners.
	HTTP []*HTTPListener `json:"http,omitempty"`
	// TCP holds the TCP and TLS listeners, UDP the UDP ones (layer4.go).
	TCP []*TCPListener `json:"tcp,omitempty"`
	UDP []*UDPListener `json:"udp,omitempty"`
	// FilterOrder is EnvoyProxy spec.filterOrder; it moves whole filter types.
	FilterOrder []FilterPosition `json:"filterOrder,omitempty"`
	// EnvoyPatchPolicies apply to the generated xDS after translation.
	EnvoyPatchPolicies []*EnvoyPatchPolicy `json:"envoyPatchPolicies,omitempty"`
	// XDSNameSchemeV2 selects Envoy Gateway's version 2 xDS names.
	XDSNameSchemeV2 bool `json:"xdsNameSchemeV2,omitempty"`
	// GlobalResources are resources every fleet may share (the wasm
	// server's cluster and the proxies' client certificate).
	GlobalResources *GlobalResources `json:"globalResources,omitempty"`
}

// GlobalResources are the control plane's own services as proxies reach
// them (Envoy Gateway's field of the same name).
type GlobalResources struct {
	// EnvoyClientCertificate is the proxies' client certificate for the
	// control plane's services; with it wasm_cluster uses mutual TLS.
	EnvoyClientCertificate *TLSCertificate `json:"envoyClientCertificate,omitempty"`
	// WasmServer is where proxies download Wasm modules (Portico's own
	// field: Envoy Gateway derives it from its namespace). Unset means
	// envoy-gateway.envoy-gateway-system.svc.cluster.local:18002.
	WasmServer *WasmServer `json:"wasmServer,omitempty"`
}

// WasmServer is the address of the control plane's wasm HTTP server.
type WasmServer struct {
	Host string `json:"host"`
	Port uint32 `json:"port"`
	// TLS is set when the server requires the proxies' client certificate
	// and the proxies read it, and the CA, from files (standalone: the
	// state directory). The private key then never travels in xDS.
	TLS *WasmServerTLS `json:"tls,omitempty"`
}

// WasmServerTLS names the files of the proxies' side of the wasm server's
// mutual TLS.
type WasmServerTLS struct {
	CAFile          string `json:"caFile"`
	CertificateFile string `json:"certificateFile"`
	KeyFile         string `json:"keyFile"`
}

// ReadyListener is the proxy's own readiness probe listener.
type ReadyListener struct {
	Address  string `json:"address"`
	Port     uint32 `json:"port"`
	Path     string `json:"path"`
	IPFamily string `json:"ipFamily,omitempty"`
}

// AccessLog configures access logging; only JSON and text to files for now.
type AccessLog struct {
	JSON []JSONAccessLog `json:"json,omitempty"`
	Text []TextAccessLog `json:"text,omitempty"`
}

// JSONAccessLog writes Envoy Gateway's default JSON format to Path.
type JSONAccessLog struct {
	Path string `json:"path"`
	// JSON overrides the default field set when not empty.
	JSON map[string]string `json:"json,omitempty"`
	// LogType is Listener or Route (EnvoyProxy accessLog settings type);
	// unset logs at both.
	LogType *string `json:"logType,omitempty"`
}

// TextAccessLog writes Format (Envoy's default text format when empty) to Path.
type TextAccessLog struct {
	Path   string  `json:"path"`
	Format *string `json:"format,omitempty"`
	// LogType is as in JSONAccessLog.
	LogType *string `json:"logType,omitempty"`
}

// FilterPosition is one EnvoyProxy filterOrder entry.
type FilterPosition struct {
	Name   string  `json:"name"`
	Before *string `json:"before,omitempty"`
	After  *string `json:"after,omitempty"`
}

// ResourceMetadata names the Kubernetes object an xDS resource came from.
// It is rendered into filter_metadata["envoy-gateway"].resources.
type ResourceMetadata struct {
	Kind        string            `json:"kind,omitempty"`
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	SectionName string            `json:"sectionName,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// HTTPListener is one Gateway listener of protocol HTTP or HTTPS. Several IR
// listeners may share a port; the xDS translator merges them into one Envoy
// listener (filter chains by SNI for HTTPS, one route config for HTTP).
type HTTPListener struct {
	// Name is <gateway-ns>/<gateway-name>/<listener-name>.
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    uint32 `json:"port"`
	// ExternalPort is the Gateway's port; Port is the container port
	// (ports below 1024 are served on port+10000).
	ExternalPort uint32            `json:"externalPort,omitempty"`
	Hostnames    []string          `json:"hostnames,omitempty"`
	TLS          *TLSConfig        `json:"tls,omitempty"`
	Path         PathSettings      `json:"path"`
	Routes       []*HTTPRoute      `json:"routes,omitempty"`
	Metadata     *ResourceMetadata `json:"metadata,omitempty"`
	// IsHTTP2 marks a listener that serves gRPC routes.
	IsHTTP2 bool `json:"isHTTP2,omitempty"`
	// ExtensionPolicies are extension policyResources attached to this
	// listener's Gateway (or to this listener by sectionName); they are
	// handed to the HTTPListener hook.
	ExtensionPolicies []*UnstructuredRef `json:"extensionPolicies,omitempty"`
}

// PathSettings is the HCM's path normalization.
type PathSettings struct {
	MergeSlashes bool `json:"mergeSlashes"`
	// EscapedSlashesAction: KeepUnchanged | RejectRequest | UnescapeAndRedirect | UnescapeAndForward.
	EscapedSlashesAction string `json:"escapedSlashesAction,omitempty"`
}

// TLSConfig terminates TLS on a listener.
type TLSConfig struct {
	Certificates  []TLSCertificate `json:"certificates,omitempty"`
	AlpnProtocols []string         `json:"alpnProtocols,omitempty"`
	MinVersion    string           `json:"minVersion,omitempty"`
	MaxVersion    string           `json:"maxVersion,omitempty"`
}

// TLSCertificate is a PEM certificate chain and key, named after its Secret
// (<namespace>/<name>) so the xDS Secret gets a stable name.
type TLSCertificate struct {
	Name        string `json:"name"`
	Certificate []byte `json:"certificate"`
	PrivateKey  []byte `json:"privateKey"`
}

// HTTPRoute is one (rule, match, hostname) combination of a Gateway API
// HTTPRoute, which is what an Envoy route is.
type HTTPRoute struct {
	// Name is httproute/<ns>/<name>/rule/<i>/match/<j>/<hostname with . -> _>.
	Name     string `json:"name"`
	Hostname string `json:"hostname"`
	IsHTTP2  bool   `json:"isHTTP2"`

	PathMatch         *StringMatch  `json:"pathMatch,omitempty"`
	HeaderMatches     []StringMatch `json:"headerMatches,omitempty"`
	QueryParamMatches []StringMatch `json:"queryParamMatches,omitempty"`

	AddRequestHeaders     []AddHeader `json:"addRequestHeaders,omitempty"`
	RemoveRequestHeaders  []string    `json:"removeRequestHeaders,omitempty"`
	AddResponseHeaders    []AddHeader `json:"addResponseHeaders,omitempty"`
	RemoveResponseHeaders []string    `json:"removeResponseHeaders,omitempty"`

	// Exactly one of DirectResponse, Redirect and Destination decides what
	// the route does; DirectResponse wins (it is how invalid backends
	// become 500s).
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`
	Redirect       *Redirect       `json:"redirect,omitempty"`
	URLRewrite     *URLRewrite     `json:"urlRewrite,omitempty"`
	Mirrors        []*MirrorPolicy `json:"mirrors,omitempty"`
	// CORS is the policy of the rule's Gateway API CORS filter. It wins
	// over a SecurityPolicy's (Security.CORS), as in Envoy Gateway.
	CORS        *CORS             `json:"cors,omitempty"`
	Destination *RouteDestination `json:"destination,omitempty"`
	Traffic     *TrafficFeatures  `json:"traffic,omitempty"`
	Metadata    *ResourceMetadata `json:"metadata,omitempty"`
	// SessionPersistence pins a client's requests to one backend host
	// (Gateway API's rule sessionPersistence).
	SessionPersistence *SessionPersistence `json:"sessionPersistence,omitempty"`

	// ExtensionRefs are HTTPRoute and GRPCRoute filters of an extension
	// server's kinds; they are handed to the Route hook.
	ExtensionRefs []*UnstructuredRef `json:"extensionRefs,omitempty"`

	// EnvoyExtensions are the EnvoyExtensionPolicy filters enabled on this route.
	EnvoyExtensions *EnvoyExtensionFeatures `json:"envoyExtensions,omitempty"`
	// ExtensionPolicies are extension policyResources attached to the
	// HTTPRoute (or to this rule by sectionName); they are handed to the
	// Route hook, which is called when either list is not empty.
	ExtensionPolicies []*UnstructuredRef `json:"extensionPolicies,omitempty"`
	// Security holds the route's authentication settings.
	Security *SecurityFeatures `json:"security,omitempty"`
}

// SessionPersistence keeps a session's host in a cookie or a header:
// exactly one of Cookie and Header is set.
type SessionPersistence struct {
	Cookie *CookieBasedSessionPersistence `json:"cookie,omitempty"`
	Header *HeaderBasedSessionPersistence `json:"header,omitempty"`
}

// CookieBasedSessionPersistence names the cookie; TTL (a Go duration) is
// its Max-Age, "" for a session cookie.
type CookieBasedSessionPersistence struct {
	Name string `json:"name"`
	TTL  string `json:"ttl,omitempty"`
}

// HeaderBasedSessionPersistence names the header.
type HeaderBasedSessionPersistence struct {
	Name string `json:"name"`
}

// StringMatch matches a path, header or query parameter. Exactly one of
// Exact, Prefix, Suffix, SafeRegex, Contains is set (or Distinct).
type StringMatch struct {
	Name      string  `json:"name"`
	Exact     *string `json:"exact,omitempty"`
	Prefix    *string `json:"prefix,omitempty"`
	Suffix    *string `json:"suffix,omitempty"`
	SafeRegex *string `json:"safeRegex,omitempty"`
	Contains  *string `json:"contains,omitempty"`
	Invert    *bool   `json:"invert,omitempty"`
	// Distinct is used for rate limiting; never in Gateway API matches.
	Distinct bool `json:"distinct"`
}

// AddHeader adds (Append) or sets a header.
type AddHeader struct {
	Name   string   `json:"name"`
	Value  []string `json:"value"`
	Append bool     `json:"append"`
}

// DirectResponse answers without an upstream.
type DirectResponse struct {
	StatusCode uint32  `json:"statusCode"`
	Body       *string `json:"body,omitempty"`
}

// Redirect is a Gateway API RequestRedirect filter.
type Redirect struct {
	Scheme     *string           `json:"scheme,omitempty"`
	Hostname   *string           `json:"hostname,omitempty"`
	Path       *HTTPPathModifier `json:"path,omitempty"`
	Port       *uint32           `json:"port,omitempty"`
	StatusCode *int32            `json:"statusCode,omitempty"`
}

// URLRewrite is a Gateway API URLRewrite filter.
type URLRewrite struct {
	Hostname *HTTPHostModifier `json:"hostname,omitempty"`
	Path     *HTTPPathModifier `json:"path,omitempty"`
}

// HTTPHostModifier rewrites the Host/:authority header.
type HTTPHostModifier struct {
	Name *string `json:"name,omitempty"`
}

// HTTPPathModifier replaces the whole path or the matched prefix.
type HTTPPathModifier struct {
	FullReplace        *string `json:"fullReplace,omitempty"`
	PrefixMatchReplace *string `json:"prefixMatchReplace,omitempty"`
}

// MirrorPolicy mirrors requests to Destination.
type MirrorPolicy struct {
	Destination *RouteDestination `json:"destination"`
	Percentage  *float32          `json:"percentage,omitempty"`
}

// RouteDestination is an Envoy cluster: Name is the cluster name
// (httproute/<ns>/<name>/rule/<i>) and Settings its weighted backends.
type RouteDestination struct {
	Name     string                `json:"name"`
	Settings []*DestinationSetting `json:"settings,omitempty"`
	Metadata *ResourceMetadata     `json:"metadata,omitempty"`
	// ExtensionBackends are custom backendRefs (an extension manager's
	// backendResources); the Cluster hook is called for this cluster when
	// the list is not empty.
	ExtensionBackends []*UnstructuredRef `json:"extensionBackends,omitempty"`
}

// DestinationSetting is one backendRef of a rule.
type DestinationSetting struct {
	// Name is <destination>/backend/<i>.
	Name string `json:"name"`
	// Weight is the backendRef weight; nil means 1.
	Weight *uint32 `json:"weight,omitempty"`
	// Priority is the endpoints' priority: 0 is used first; 1 (a fallback
	// backend) only when no endpoint of priority 0 is healthy.
	Priority *uint32 `json:"priority,omitempty"`
	// Protocol is HTTP, HTTP2 (h2c upstream), TCP, UDP, ...
	Protocol  string                 `json:"protocol,omitempty"`
	Endpoints []*DestinationEndpoint `json:"endpoints,omitempty"`
	// AddressType is IP, FQDN or Mixed. FQDN endpoints make a STRICT_DNS cluster.
	AddressType *string            `json:"addressType,omitempty"`
	TLS         *TLSUpstreamConfig `json:"tls,omitempty"`
	Metadata    *ResourceMetadata  `json:"metadata,omitempty"`
}

// DestinationEndpoint is an upstream host: an IP or FQDN with a port, or a
// unix socket Path.
type DestinationEndpoint struct {
	Host string `json:"host"`
	Port uint32 `json:"port"`
	// Path is a unix domain socket path; Host and Port are then empty.
	Path *string `json:"path,omitempty"`
}

// TLSUpstreamConfig is TLS from the proxy to a backend (BackendTLSPolicy).
type TLSUpstreamConfig struct {
	SNI                 *string           `json:"sni,omitempty"`
	UseSystemTrustStore bool              `json:"useSystemTrustStore,omitempty"`
	CACertificate       *TLSCACertificate `json:"caCertificate,omitempty"`
	// SubjectAltNames the backend's certificate must carry one of; when
	// empty, SNI (as a DNS name) is.
	SubjectAltNames []SubjectAltName `json:"subjectAltNames,omitempty"`
	// ClientCertificates are presented to the backend (mTLS).
	ClientCertificates []TLSCertificate `json:"clientCertificates,omitempty"`
	// AlpnProtocols offered to the backend; none when empty.
	AlpnProtocols []string `json:"alpnProtocols,omitempty"`
	// MinVersion and MaxVersion bound the TLS version ("1.2", "1.3").
	MinVersion string `json:"minVersion,omitempty"`
	MaxVersion string `json:"maxVersion,omitempty"`
}

// SubjectAltName is one accepted name of a backend's certificate: exactly
// one of Hostname (a DNS SAN) and URI.
type SubjectAltName struct {
	Hostname *string `json:"hostname,omitempty"`
	URI      *string `json:"uri,omitempty"`
}

// TLSCACertificate is a PEM CA bundle named after its source.
type TLSCACertificate struct {
	Name        string `json:"name"`
	Certificate []byte `json:"certificate"`
}

// TrafficFeatures carries per-route traffic settings that the backbone knows
// (timeouts, retries); later policies extend it.
type TrafficFeatures struct {
	Timeout *HTTPTimeout `json:"timeout,omitempty"`
	Retry   *Retry       `json:"retry,omitempty"`
}

// HTTPTimeout is a Gateway API rule timeouts block, as durations.
type HTTPTimeout struct {
	// RequestTimeout is the route timeout ("10s"); "0s" disables it.
	RequestTimeout *string `json:"requestTimeout,omitempty"`
	// BackendRequestTimeout is the per-try timeout.
	BackendRequestTimeout *string `json:"backendRequestTimeout,omitempty"`
}

// Retry is a route retry policy.
type Retry struct {
	NumRetries *uint32 `json:"numRetries,omitempty"`
	// RetryOn lists Envoy retry_on triggers and HTTP status codes.
	RetryOn  *RetryOn  `json:"retryOn,omitempty"`
	PerRetry *PerRetry `json:"perRetry,omitempty"`
}

// RetryOn is what triggers a retry.
type RetryOn struct {
	Triggers        []string `json:"triggers,omitempty"`
	HTTPStatusCodes []uint32 `json:"httpStatusCodes,omitempty"`
}

// PerRetry is the per-attempt timeout and back-off.
type PerRetry struct {
	Timeout *string  `json:"timeout,omitempty"`
	BackOff *BackOff `json:"backOff,omitempty"`
}

// BackOff is the retry back-off.
type BackOff struct {
	BaseInterval *string `json:"baseInterval,omitempty"`
	MaxInterval  *string `json:"maxInterval,omitempty"`
}

// UnstructuredRef is an object of a kind Portico does not know, passed to an
// extension server as JSON.
type UnstructuredRef struct {
	Object map[string]any `json:"object"`
}

// EnvoyPatchPolicy is the part of an EnvoyPatchPolicy the xDS stage applies.
// Its status is computed there (Programmed) and handed back.
type EnvoyPatchPolicy struct {
	Name        string             `json:"name"`
	Namespace   string             `json:"namespace"`
	Generation  int64              `json:"generation,omitempty"`
	Priority    int32              `json:"priority,omitempty"`
	JSONPatches []*JSONPatchConfig `json:"jsonPatches,omitempty"`
}

// JSONPatchConfig is one patch against one xDS resource.
type JSONPatchConfig struct {
	Type      string             `json:"type"`
	Name      string             `json:"name"`
	Operation JSONPatchOperation `json:"operation"`
}

// JSONPatchOperation is an RFC 6902 operation, optionally on JSONPath matches.
type JSONPatchOperation struct {
	Op       string  `json:"op"`
	Path     *string `json:"path,omitempty"`
	JSONPath *string `json:"jsonPath,omitempty"`
	From     *string `json:"from,omitempty"`
	Value    any     `json:"value,omitempty"`
}

// MarshalJSON prints the certificate with its private key redacted, as
// Envoy Gateway prints its IR: IR dumps end up in logs and bug reports.
func (c TLSCertificate) MarshalJSON() ([]byte, error) {
	type plain TLSCertificate
	p := plain(c)
	if len(p.PrivateKey) > 0 {
		p.PrivateKey = []byte("[redacted]")
	}
	return json.Marshal(p)
}

// SecurityFeatures are a route's authentication settings.
type SecurityFeatures struct {
	CORS          *CORS          `json:"cors,omitempty"`
	JWT           *JWT           `json:"jwt,omitempty"`
	BasicAuth     *BasicAuth     `json:"basicAuth,omitempty"`
	APIKeyAuth    *APIKeyAuth    `json:"apiKeyAuth,omitempty"`
	ExtAuth       *ExtAuth       `json:"extAuth,omitempty"`
	Authorization *Authorization `json:"authorization,omitempty"`
}

// BasicAuth is HTTP Basic authentication against htpasswd users.
type BasicAuth struct {
	// Name is the policy that configured it (securitypolicy/<ns>/<name>);
	// routes with the same name share one HCM filter.
	Name string `json:"name"`
	// Users is htpasswd content ("user:{SHA}base64(sha1(password))" lines).
	Users []byte `json:"users"`
	// ForwardUsernameHeader, when set, carries the authenticated user name
	// to the upstream.
	ForwardUsernameHeader *string `json:"forwardUsernameHeader,omitempty"`
}
