package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// EnvoyGateway is the control plane's configuration file (envoy-gateway.yaml).
// It is not a served resource, so it has no CRD and no metadata: the fields
// sit at the top level, next to apiVersion and kind, exactly as in Envoy
// Gateway's ConfigMap.
//
// DeepCopyObject is written by hand below because the type is deliberately
// not a kubebuilder root object (that would emit a CRD).
type EnvoyGateway struct {
	metav1.TypeMeta  `json:",inline"`
	EnvoyGatewaySpec `json:",inline"`
}

// DeepCopyObject implements runtime.Object.
func (in *EnvoyGateway) DeepCopyObject() runtime.Object {
	if in == nil {
		return nil
	}
	out := new(EnvoyGateway)
	in.DeepCopyInto(out)
	return out
}

// EnvoyGatewaySpec is the desired state of the control plane.
type EnvoyGatewaySpec struct {
	// Gateway holds Gateway API specific settings.
	// +optional
	Gateway *Gateway `json:"gateway,omitempty"`

	// Provider selects where resources come from and where proxies run.
	// Defaults to Kubernetes.
	// +optional
	Provider *EnvoyGatewayProvider `json:"provider,omitempty"`

	// Logging sets per-component log levels.
	// +optional
	Logging *EnvoyGatewayLogging `json:"logging,omitempty"`

	// Admin configures the admin server.
	// +optional
	Admin *EnvoyGatewayAdmin `json:"admin,omitempty"`

	// Telemetry for the control plane (metrics, traces). Preserved, not yet interpreted.
	// +optional
	Telemetry *apiextensionsv1.JSON `json:"telemetry,omitempty"`

	// XDSServer tunes the xDS gRPC server (maxConnectionAge, ...). Preserved, not yet interpreted.
	// +optional
	XDSServer *apiextensionsv1.JSON `json:"xdsServer,omitempty"`

	// RateLimit configures the global rate limit service. Preserved, not yet interpreted.
	// +optional
	RateLimit *apiextensionsv1.JSON `json:"rateLimit,omitempty"`

	// ExtensionManager registers one extension server.
	// Mutually exclusive with ExtensionManagers.
	// +optional
	ExtensionManager *ExtensionManager `json:"extensionManager,omitempty"`

	// ExtensionManagers registers several extension servers, called in list
	// order, each one's output feeding the next. Names must be unique.
	// Mutually exclusive with ExtensionManager.
	// +optional
	ExtensionManagers []*ExtensionManager `json:"extensionManagers,omitempty"`

	// ExtensionAPIs turns optional APIs on.
	// +optional
	ExtensionAPIs *ExtensionAPISettings `json:"extensionApis,omitempty"`

	// GatewayAPI turns experimental Gateway API resources on. Preserved, not yet interpreted.
	// +optional
	GatewayAPI *apiextensionsv1.JSON `json:"gatewayAPI,omitempty"`

	// RuntimeFlags toggles temporary behaviour switches such as XDSNameSchemeV2.
	// +optional
	RuntimeFlags *RuntimeFlags `json:"runtimeFlags,omitempty"`

	// EnvoyProxy is the default EnvoyProxy spec for every managed proxy; a
	// GatewayClass or Gateway EnvoyProxy overrides it.
	// +optional
	EnvoyProxy *EnvoyProxySpec `json:"envoyProxy,omitempty"`
}

// Gateway holds Gateway API settings.
type Gateway struct {
	// ControllerName is the GatewayClass controllerName this control plane
	// owns. Defaults to gateway.envoyproxy.io/gatewayclass-controller so that
	// Envoy Gateway's GatewayClasses are picked up unchanged.
	// +optional
	ControllerName string `json:"controllerName,omitempty"`
}

// DefaultControllerName is Envoy Gateway's controller name, which Portico
// adopts by default.
const DefaultControllerName = "gateway.envoyproxy.io/gatewayclass-controller"

// ProviderType is the kind of provider.
//
// +kubebuilder:validation:Enum=Kubernetes;Custom
type ProviderType string

// Provider types.
const (
	ProviderTypeKubernetes ProviderType = "Kubernetes"
	ProviderTypeCustom     ProviderType = "Custom"
)

// EnvoyGatewayProvider selects and configures the provider.
type EnvoyGatewayProvider struct {
	// Type is Kubernetes or Custom.
	Type ProviderType `json:"type"`

	// Kubernetes provider settings (watch, deploy, leaderElection,
	// rateLimitDeployment, ...). Preserved, not yet interpreted.
	// +optional
	Kubernetes *apiextensionsv1.JSON `json:"kubernetes,omitempty"`

	// Custom provider: a resource source and an infrastructure target.
	// +optional
	Custom *EnvoyGatewayCustomProvider `json:"custom,omitempty"`
}

// EnvoyGatewayCustomProvider combines a resource provider and an infrastructure provider.
type EnvoyGatewayCustomProvider struct {
	// Resource says where configuration comes from.
	Resource EnvoyGatewayResourceProvider `json:"resource"`

	// Infrastructure says where proxies run. Optional: without it no proxy is managed.
	// +optional
	Infrastructure *EnvoyGatewayInfrastructureProvider `json:"infrastructure,omitempty"`
}

// ResourceProviderType is the kind of resource provider.
//
// +kubebuilder:validation:Enum=File
type ResourceProviderType string

// ResourceProviderTypeFile reads resources from files and directories.
const ResourceProviderTypeFile ResourceProviderType = "File"

// EnvoyGatewayResourceProvider configures the resource provider.
type EnvoyGatewayResourceProvider struct {
	// Type is File.
	Type ResourceProviderType `json:"type"`

	// File provider settings.
	// +optional
	File *EnvoyGatewayFileResourceProvider `json:"file,omitempty"`
}

// EnvoyGatewayFileResourceProvider lists the files or directories to read.
type EnvoyGatewayFileResourceProvider struct {
	// Paths are files or directories (not recursive) holding resources.
	Paths []string `json:"paths"`
}

// InfrastructureProviderType is the kind of infrastructure provider.
//
// +kubebuilder:validation:Enum=Host
type InfrastructureProviderType string

// InfrastructureProviderTypeHost runs proxies as processes on this host.
const InfrastructureProviderTypeHost InfrastructureProviderType = "Host"

// EnvoyGatewayInfrastructureProvider configures the infrastructure provider.
type EnvoyGatewayInfrastructureProvider struct {
	// Type is Host.
	Type InfrastructureProviderType `json:"type"`

	// Host provider settings.
	// +optional
	Host *EnvoyGatewayHostInfrastructureProvider `json:"host,omitempty"`
}

// EnvoyGatewayHostInfrastructureProvider holds the directories the Host
// infrastructure uses; each defaults to an XDG-style location.
type EnvoyGatewayHostInfrastructureProvider struct {
	// ConfigHome is the directory for configuration files.
	// +optional
	ConfigHome *string `json:"configHome,omitempty"`
	// DataHome is the directory for persistent data (proxy binaries).
	// +optional
	DataHome *string `json:"dataHome,omitempty"`
	// StateHome is the directory for persistent state (logs).
	// +optional
	StateHome *string `json:"stateHome,omitempty"`
	// RuntimeDir is the directory for ephemeral runtime files.
	// +optional
	RuntimeDir *string `json:"runtimeDir,omitempty"`
}

// EnvoyGatewayLogComponent names a control plane component with its own log level.
//
// +kubebuilder:validation:Enum=default;provider;gateway-api;xds-translator;xds-server;xds;infrastructure;global-ratelimit
type EnvoyGatewayLogComponent string

// EnvoyGatewayLogging sets control plane logging.
type EnvoyGatewayLogging struct {
	// Level maps a component to its level; "default" applies to all.
	// +optional
	Level map[EnvoyGatewayLogComponent]LogLevel `json:"level,omitempty"`

	// Encoder is Text (default) or JSON.
	// +optional
	// +kubebuilder:validation:Enum=Text;JSON
	Encoder *string `json:"encoder,omitempty"`
}

// EnvoyGatewayAdmin configures the control plane admin server.
type EnvoyGatewayAdmin struct {
	// Address the admin server listens on.
	// +optional
	Address *EnvoyGatewayAdminAddress `json:"address,omitempty"`
	// EnableDumpConfig logs the configuration at start.
	// +optional
	EnableDumpConfig bool `json:"enableDumpConfig,omitempty"`
	// EnablePprof serves pprof on the admin server.
	// +optional
	EnablePprof bool `json:"enablePprof,omitempty"`
}

// EnvoyGatewayAdminAddress is the admin server's listen address.
type EnvoyGatewayAdminAddress struct {
	// Port defaults to 19000.
	// +optional
	// +kubebuilder:default=19000
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port int `json:"port,omitempty"`
	// Host defaults to 127.0.0.1.
	// +optional
	// +kubebuilder:default="127.0.0.1"
	Host string `json:"host,omitempty"`
}

// ExtensionAPISettings turns optional, security-sensitive APIs on.
type ExtensionAPISettings struct {
	// EnableEnvoyPatchPolicy lets EnvoyPatchPolicy resources take effect.
	// +optional
	EnableEnvoyPatchPolicy bool `json:"enableEnvoyPatchPolicy,omitempty"`
	// EnableBackend lets Backend resources take effect.
	// +optional
	EnableBackend bool `json:"enableBackend,omitempty"`
	// DisableLua is Envoy Gateway's deprecated opposite of EnableLua.
	// +optional
	DisableLua bool `json:"disableLua,omitempty"`
	// EnableLua lets Lua EnvoyExtensionPolicies take effect.
	// +optional
	EnableLua bool `json:"enableLua,omitempty"`
	// EnableSDSSecretRef allows SDS settings read from secrets.
	// +optional
	EnableSDSSecretRef bool `json:"enableSDSSecretRef,omitempty"`
}

// RuntimeFlag names a temporary behaviour switch.
//
// +kubebuilder:validation:Enum=XDSNameSchemeV2
type RuntimeFlag string

// XDSNameSchemeV2 switches xDS resource names to the v2 scheme (tcp-<port>, http-<port>, ...).
const XDSNameSchemeV2 RuntimeFlag = "XDSNameSchemeV2"

// RuntimeFlags lists flags switched on or off.
type RuntimeFlags struct {
	// Enabled flags.
	// +optional
	Enabled []RuntimeFlag `json:"enabled,omitempty"`
	// Disabled flags.
	// +optional
	Disabled []RuntimeFlag `json:"disabled,omitempty"`
}

// IsEnabled reports whether flag is listed as enabled and not disabled.
func (f *RuntimeFlags) IsEnabled(flag RuntimeFlag) bool {
	if f == nil {
		return false
	}
	for _, d := range f.Disabled {
		if d == flag {
			return false
		}
	}
	for _, e := range f.Enabled {
		if e == flag {
			return true
		}
	}
	return false
}

// GroupVersionKind identifies a resource kind handled by an extension.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// ExtensionManager registers an extension server and the hooks it serves.
type ExtensionManager struct {
	// Name identifies the manager; required and unique in extensionManagers.
	// +optional
	Name string `json:"name,omitempty"`

	// Resources are kinds usable as HTTPRoute extensionRef filters.
	// +optional
	Resources []GroupVersionKind `json:"resources,omitempty"`

	// PolicyResources are policy kinds attached by targetRefs (same namespace only).
	// +optional
	PolicyResources []GroupVersionKind `json:"policyResources,omitempty"`

	// BackendResources are kinds usable as custom HTTPRoute backendRefs.
	// +optional
	BackendResources []GroupVersionKind `json:"backendResources,omitempty"`

	// Hooks the extension server implements.
	// +optional
	Hooks *ExtensionHooks `json:"hooks,omitempty"`

	// Service is how to reach the extension server.
	Service *ExtensionService `json:"service,omitempty"`

	// FailOpen ignores hook errors (the resource stays unchanged) instead of
	// failing translation and keeping the last good snapshot. Default false.
	// +optional
	FailOpen bool `json:"failOpen,omitempty"`

	// MaxMessageSize bounds gRPC messages to and from the server. Default 4M.
	// +optional
	MaxMessageSize *resource.Quantity `json:"maxMessageSize,omitempty"`
}

// ExtensionHooks lists hooks per runner.
type ExtensionHooks struct {
	// XDSTranslator hooks.
	// +optional
	XDSTranslator *XDSTranslatorHooks `json:"xdsTranslator,omitempty"`
}

// XDSTranslatorHook is a point in xDS translation where the extension is called.
//
// +kubebuilder:validation:Enum=VirtualHost;Route;HTTPListener;Cluster;Endpoints;Translation
type XDSTranslatorHook string

// xDS translator hooks.
const (
	XDSVirtualHost  XDSTranslatorHook = "VirtualHost"
	XDSRoute        XDSTranslatorHook = "Route"
	XDSHTTPListener XDSTranslatorHook = "HTTPListener"
	XDSCluster      XDSTranslatorHook = "Cluster"
	XDSEndpoints    XDSTranslatorHook = "Endpoints"
	XDSTranslation  XDSTranslatorHook = "Translation"
)

// XDSTranslatorHooks lists the pre and post hooks and what the Translation hook receives.
type XDSTranslatorHooks struct {
	// Pre hooks (none are defined today; kept for compatibility).
	// +optional
	Pre []XDSTranslatorHook `json:"pre,omitempty"`
	// Post hooks.
	// +optional
	Post []XDSTranslatorHook `json:"post,omitempty"`
	// Translation selects which resource types the Translation hook receives in full.
	// +optional
	Translation *TranslationConfig `json:"translation,omitempty"`
}

// TranslationConfig selects what PostTranslateModify receives. Defaults:
// listener false, route false, cluster true, secret true.
type TranslationConfig struct {
	// +optional
	Listener *IncludeAll `json:"listener,omitempty"`
	// +optional
	Route *IncludeAll `json:"route,omitempty"`
	// +optional
	Cluster *IncludeAll `json:"cluster,omitempty"`
	// +optional
	Secret *IncludeAll `json:"secret,omitempty"`
}

// IncludeAll says whether all resources of a type are sent.
type IncludeAll struct {
	// +optional
	IncludeAll *bool `json:"includeAll,omitempty"`
}

// ExtensionService says where the extension server is. One of fqdn, ip,
// unix, or the deprecated host+port must be set.
type ExtensionService struct {
	// Hostname is an optional hostname for the endpoint (SNI, authority).
	// +optional
	Hostname *string `json:"hostname,omitempty"`
	// FQDN endpoint.
	// +optional
	FQDN *FQDNEndpoint `json:"fqdn,omitempty"`
	// IP endpoint.
	// +optional
	IP *IPEndpoint `json:"ip,omitempty"`
	// Unix socket endpoint.
	// +optional
	Unix *UnixSocket `json:"unix,omitempty"`
	// Zone of the endpoint.
	// +optional
	Zone *string `json:"zone,omitempty"`
	// Host is deprecated: use fqdn, ip or unix.
	// +optional
	Host string `json:"host,omitempty"`
	// Port is deprecated: use fqdn, ip or unix. Defaults to 80 with host.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// TLS to the extension server.
	// +optional
	TLS *ExtensionTLS `json:"tls,omitempty"`
	// Retry policy for calls to the extension server.
	// +optional
	Retry *ExtensionServiceRetry `json:"retry,omitempty"`
}

// ExtensionTLS configures TLS to an extension server.
type ExtensionTLS struct {
	// CertificateRef is a Secret whose tls.crt is the CA that signs the server certificate.
	CertificateRef gwapiv1.SecretObjectReference `json:"certificateRef"`
	// ClientCertificateRef is a Secret with tls.crt and tls.key for mTLS.
	// +optional
	ClientCertificateRef *gwapiv1.SecretObjectReference `json:"clientCertificateRef,omitempty"`
}

// RetryableGRPCStatusCode is a gRPC status name that is retried.
//
// +kubebuilder:validation:Enum=CANCELLED;UNKNOWN;DEADLINE_EXCEEDED;NOT_FOUND;ALREADY_EXISTS;PERMISSION_DENIED;RESOURCE_EXHAUSTED;FAILED_PRECONDITION;ABORTED;OUT_OF_RANGE;UNIMPLEMENTED;INTERNAL;UNAVAILABLE;DATA_LOSS;UNAUTHENTICATED
type RetryableGRPCStatusCode string

// ExtensionServiceRetry is the gRPC retry policy for extension calls.
// Defaults: maxAttempts 4, initialBackoff 0.1s, maxBackoff 1s,
// backoffMultiplier 2, retryable UNAVAILABLE.
type ExtensionServiceRetry struct {
	// MaxAttempts is the maximum number of attempts.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxAttempts *int `json:"maxAttempts,omitempty"`
	// InitialBackoff before the first retry.
	// +optional
	InitialBackoff *gwapiv1.Duration `json:"initialBackoff,omitempty"`
	// MaxBackoff caps the backoff.
	// +optional
	MaxBackoff *gwapiv1.Duration `json:"maxBackoff,omitempty"`
	// BackoffMultiplier grows the backoff after each attempt.
	// +optional
	BackoffMultiplier *gwapiv1.Fraction `json:"backoffMultiplier,omitempty"`
	// RetryableStatusCodes are the gRPC codes that are retried.
	// The capitalised JSON name is Envoy Gateway's (its tag is spelled that
	// way), kept so its configuration files decode unchanged.
	// +optional
	RetryableStatusCodes []RetryableGRPCStatusCode `json:"RetryableStatusCodes,omitempty"`
}
