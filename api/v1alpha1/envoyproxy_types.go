package v1alpha1

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// EnvoyProxy configures the proxies of a GatewayClass or Gateway (through
// parametersRef / infrastructure.parametersRef).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=envoy-gateway,shortName=eproxy
// +kubebuilder:subresource:status
type EnvoyProxy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EnvoyProxySpec   `json:"spec,omitempty"`
	Status EnvoyProxyStatus `json:"status,omitempty"`
}

// EnvoyProxyList is a list of EnvoyProxy.
//
// +kubebuilder:object:root=true
type EnvoyProxyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EnvoyProxy `json:"items"`
}

// EnvoyProxySpec is the desired state of a proxy fleet.
type EnvoyProxySpec struct {
	// Provider says where and how proxies run. Defaults to Kubernetes.
	// +optional
	Provider *EnvoyProxyProvider `json:"provider,omitempty"`

	// Logging sets proxy log levels. Defaults to {level: {default: warn}}.
	// +optional
	// +kubebuilder:default={level: {default: warn}}
	Logging ProxyLogging `json:"logging,omitempty"`

	// Telemetry: access logs, tracing, metrics.
	// +optional
	Telemetry *ProxyTelemetry `json:"telemetry,omitempty"`

	// Bootstrap replaces, merges into or patches the generated bootstrap.
	// +optional
	Bootstrap *ProxyBootstrap `json:"bootstrap,omitempty"`

	// Concurrency is the number of worker threads; defaults to the CPU count.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Concurrency *int32 `json:"concurrency,omitempty"`

	// RoutingType is Endpoint (default: route to pod IPs) or Service (cluster IP).
	// +optional
	RoutingType *RoutingType `json:"routingType,omitempty"`

	// ExtraArgs are extra command line arguments for the proxy.
	// +optional
	ExtraArgs []string `json:"extraArgs,omitempty"`

	// MergeGateways serves all Gateways of the GatewayClass from one proxy
	// fleet (one snapshot per GatewayClass; EnvoyPatchPolicy then targets the
	// GatewayClass).
	// +optional
	MergeGateways *bool `json:"mergeGateways,omitempty"`

	// Shutdown tunes graceful drain.
	// +optional
	Shutdown *ShutdownConfig `json:"shutdown,omitempty"`

	// FilterOrder moves whole HTTP filter types before or after others.
	// The router filter always stays last.
	// +optional
	FilterOrder []FilterPosition `json:"filterOrder,omitempty"`

	// BackendTLS is the client TLS used toward backends and external services.
	// +optional
	BackendTLS *BackendTLSConfig `json:"backendTLS,omitempty"`

	// IPFamily of the listeners: IPv4 (default), IPv6 or DualStack.
	// +optional
	IPFamily *IPFamily `json:"ipFamily,omitempty"`

	// PreserveRouteOrder keeps HTTPRoute rule order instead of Gateway API precedence.
	// +optional
	PreserveRouteOrder *bool `json:"preserveRouteOrder,omitempty"`

	// LuaValidation is how strictly Lua scripts of EnvoyExtensionPolicies are
	// checked: Strict (default), InsecureSyntax or Disabled. This is Envoy
	// Gateway's field.
	// +optional
	LuaValidation *LuaValidation `json:"luaValidation,omitempty"`

	// Lua is an alternative spelling, lua.validationType, used by Portico's
	// compatibility notes; luaValidation wins when both are set.
	// +optional
	Lua *LuaSettings `json:"lua,omitempty"`

	// DynamicModules registers dynamic module shared libraries. Preserved, not yet interpreted.
	// +optional
	DynamicModules []apiextensionsv1.JSON `json:"dynamicModules,omitempty"`

	// GeoIP provider settings. Preserved, not yet interpreted.
	// +optional
	GeoIP *apiextensionsv1.JSON `json:"geoIP,omitempty"`

	// MergeType controls merging with less specific EnvoyProxy settings;
	// unset means replace.
	// +optional
	MergeType *MergeType `json:"mergeType,omitempty"`
}

// EffectiveLuaValidation resolves luaValidation / lua.validationType, defaulting to Strict.
func (s *EnvoyProxySpec) EffectiveLuaValidation() LuaValidation {
	switch {
	case s == nil:
		return LuaValidationStrict
	case s.LuaValidation != nil:
		return *s.LuaValidation
	case s.Lua != nil && s.Lua.ValidationType != nil:
		return *s.Lua.ValidationType
	}
	return LuaValidationStrict
}

// LuaValidation is a Lua validation mode.
//
// +kubebuilder:validation:Enum=Strict;InsecureSyntax;Disabled
type LuaValidation string

// Lua validation modes.
const (
	// LuaValidationStrict runs the script against mock stream handles in a sandbox.
	LuaValidationStrict LuaValidation = "Strict"
	// LuaValidationInsecureSyntax only parses the script.
	LuaValidationInsecureSyntax LuaValidation = "InsecureSyntax"
	// LuaValidationDisabled skips validation.
	LuaValidationDisabled LuaValidation = "Disabled"
)

// LuaSettings holds Lua settings under spec.lua.
type LuaSettings struct {
	// ValidationType is the Lua validation mode.
	// +optional
	ValidationType *LuaValidation `json:"validationType,omitempty"`
}

// EnvoyProxyStatus reports which GatewayClasses and Gateways use this EnvoyProxy.
type EnvoyProxyStatus struct {
	// Ancestors are the users of this EnvoyProxy and their conditions.
	// +optional
	Ancestors []EnvoyProxyAncestorStatus `json:"ancestors,omitempty"`
}

// EnvoyProxyAncestorStatus is the status for one GatewayClass or Gateway.
type EnvoyProxyAncestorStatus struct {
	// AncestorRef is the GatewayClass or Gateway.
	AncestorRef gwapiv1.ParentReference `json:"ancestorRef"`
	// Conditions for this ancestor.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// EnvoyProxyProviderType is where proxies run.
//
// +kubebuilder:validation:Enum=Kubernetes;Host
type EnvoyProxyProviderType string

// Proxy provider types.
const (
	EnvoyProxyProviderTypeKubernetes EnvoyProxyProviderType = "Kubernetes"
	EnvoyProxyProviderTypeHost       EnvoyProxyProviderType = "Host"
)

// EnvoyProxyProvider configures where proxies run.
type EnvoyProxyProvider struct {
	// Type is Kubernetes or Host.
	Type EnvoyProxyProviderType `json:"type"`
	// Kubernetes resources generated for the proxy.
	// +optional
	Kubernetes *EnvoyProxyKubernetesProvider `json:"kubernetes,omitempty"`
	// Host process settings.
	// +optional
	Host *EnvoyProxyHostProvider `json:"host,omitempty"`
}

// EnvoyProxyHostProvider configures proxies run as host processes.
type EnvoyProxyHostProvider struct {
	// EnvoyVersion of the envoy binary; ignored when Portico's built-in proxy runs.
	// +optional
	EnvoyVersion *string `json:"envoyVersion,omitempty"`
}

// EnvoyProxyKubernetesProvider shapes the Kubernetes objects made for a proxy.
//
// +kubebuilder:validation:XValidation:rule="((has(self.envoyDeployment) && !has(self.envoyDaemonSet)) || (!has(self.envoyDeployment) && has(self.envoyDaemonSet))) || (!has(self.envoyDeployment) && !has(self.envoyDaemonSet))",message="only one of envoyDeployment or envoyDaemonSet can be specified"
// +kubebuilder:validation:XValidation:rule="((has(self.envoyHpa) && !has(self.envoyDaemonSet)) || (!has(self.envoyHpa) && has(self.envoyDaemonSet))) || (!has(self.envoyHpa) && !has(self.envoyDaemonSet))",message="cannot use envoyHpa if envoyDaemonSet is used"
type EnvoyProxyKubernetesProvider struct {
	// EnvoyDeployment shapes the proxy Deployment.
	// +optional
	EnvoyDeployment *KubernetesDeploymentSpec `json:"envoyDeployment,omitempty"`
	// EnvoyDaemonSet runs proxies as a DaemonSet instead (patch, strategy, pod, container, name).
	// +optional
	// +kubebuilder:validation:Type=object
	EnvoyDaemonSet *apiextensionsv1.JSON `json:"envoyDaemonSet,omitempty"`
	// EnvoyService shapes the proxy Service.
	// +optional
	EnvoyService *KubernetesServiceSpec `json:"envoyService,omitempty"`
	// EnvoyHpa adds a HorizontalPodAutoscaler for the proxy Deployment.
	// +optional
	// +kubebuilder:validation:Type=object
	EnvoyHpa *apiextensionsv1.JSON `json:"envoyHpa,omitempty"`
	// UseListenerPortAsContainerPort turns off the +10000 shift of privileged ports.
	// +optional
	UseListenerPortAsContainerPort *bool `json:"useListenerPortAsContainerPort,omitempty"`
	// EnvoyPDB adds a PodDisruptionBudget for the proxy pods.
	// +optional
	EnvoyPDB *apiextensionsv1.JSON `json:"envoyPDB,omitempty"`
	// EnvoyServiceAccount names the ServiceAccount.
	// +optional
	EnvoyServiceAccount *KubernetesServiceAccountSpec `json:"envoyServiceAccount,omitempty"`
}

// KubernetesServiceAccountSpec names the proxy ServiceAccount.
type KubernetesServiceAccountSpec struct {
	// +optional
	Name *string `json:"name,omitempty"`
}

// KubernetesDeploymentSpec shapes the proxy Deployment.
type KubernetesDeploymentSpec struct {
	// Patch is applied to the generated Deployment last (for sidecars, volumes, ...).
	// +optional
	Patch *KubernetesPatchSpec `json:"patch,omitempty"`
	// Replicas defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`
	// Strategy for replacing pods.
	// +optional
	Strategy *appsv1.DeploymentStrategy `json:"strategy,omitempty"`
	// Pod settings.
	// +optional
	Pod *KubernetesPodSpec `json:"pod,omitempty"`
	// Container settings for the proxy container.
	// +optional
	Container *KubernetesContainerSpec `json:"container,omitempty"`
	// InitContainers added to the pod.
	// +optional
	InitContainers []corev1.Container `json:"initContainers,omitempty"`
	// Name of the Deployment; generated when unset.
	// +optional
	Name *string `json:"name,omitempty"`
}

// KubernetesPodSpec shapes the proxy pod.
type KubernetesPodSpec struct {
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	Volumes []corev1.Volume `json:"volumes,omitempty"`
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// +optional
	PriorityClassName *string `json:"priorityClassName,omitempty"`
}

// KubernetesContainerSpec shapes the proxy container.
type KubernetesContainerSpec struct {
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
	// Image with tag; mutually exclusive with imageRepository.
	// +optional
	Image *string `json:"image,omitempty"`
	// ImageRepository without tag; the default tag is used.
	// +optional
	ImageRepository *string `json:"imageRepository,omitempty"`
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
}

// ServiceType is how the proxy Service is exposed.
//
// +kubebuilder:validation:Enum=ClusterIP;LoadBalancer;NodePort
type ServiceType string

// KubernetesServiceSpec shapes the proxy Service.
type KubernetesServiceSpec struct {
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Type defaults to LoadBalancer (a schema default, as in Envoy Gateway's CRD).
	// +optional
	// +kubebuilder:default:="LoadBalancer"
	Type *ServiceType `json:"type,omitempty"`
	// +optional
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`
	// +optional
	AllocateLoadBalancerNodePorts *bool `json:"allocateLoadBalancerNodePorts,omitempty"`
	// +optional
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`
	// +optional
	LoadBalancerIP *string `json:"loadBalancerIP,omitempty"`
	// ExternalTrafficPolicy is Local (default) or Cluster.
	// +optional
	// +kubebuilder:validation:Enum=Local;Cluster
	// +kubebuilder:default:="Local"
	ExternalTrafficPolicy *string `json:"externalTrafficPolicy,omitempty"`
	// +optional
	Patch *KubernetesPatchSpec `json:"patch,omitempty"`
	// +optional
	Name *string `json:"name,omitempty"`
}

// ProxyLogging sets proxy log levels per component ("default" for all).
type ProxyLogging struct {
	// +optional
	Level map[string]LogLevel `json:"level,omitempty"`
}

// ProxyTelemetry configures proxy observability.
type ProxyTelemetry struct {
	// AccessLog settings; when unset a default text log goes to stdout.
	// +optional
	AccessLog *ProxyAccessLog `json:"accessLog,omitempty"`
	// Tracing settings. Preserved, not yet interpreted.
	// +optional
	Tracing *apiextensionsv1.JSON `json:"tracing,omitempty"`
	// Metrics settings: prometheus.disable is honoured, the rest preserved.
	// +optional
	Metrics *ProxyMetrics `json:"metrics,omitempty"`
}

// ProxyMetrics configures the proxy's metrics.
type ProxyMetrics struct {
	// Prometheus configures the proxy's /stats/prometheus endpoint (the
	// bootstrap's stats listener, port 19001).
	// +optional
	Prometheus *ProxyPrometheusProvider `json:"prometheus,omitempty"`
	// Sinks are where metrics are pushed (OpenTelemetry). Preserved, not yet interpreted.
	// +optional
	Sinks []apiextensionsv1.JSON `json:"sinks,omitempty"`
	// Matches select the stats the proxy keeps. Preserved, not yet interpreted.
	// +optional
	Matches []apiextensionsv1.JSON `json:"matches,omitempty"`
	// EnableVirtualHostStats adds per virtual host stats. Preserved, not yet interpreted.
	// +optional
	EnableVirtualHostStats *bool `json:"enableVirtualHostStats,omitempty"`
	// EnablePerEndpointStats adds per endpoint stats. Preserved, not yet interpreted.
	// +optional
	EnablePerEndpointStats *bool `json:"enablePerEndpointStats,omitempty"`
	// EnableRequestResponseSizesStats adds header and body size histograms. Preserved, not yet interpreted.
	// +optional
	EnableRequestResponseSizesStats *bool `json:"enableRequestResponseSizesStats,omitempty"`
	// ClusterStatName names clusters in stats (alt_stat_name). Preserved, not yet interpreted.
	// +optional
	ClusterStatName *string `json:"clusterStatName,omitempty"`
}

// ProxyPrometheusProvider configures the proxy's Prometheus endpoint.
type ProxyPrometheusProvider struct {
	// Disable leaves the stats listener (port 19001) out of the proxy's bootstrap.
	// +optional
	Disable bool `json:"disable,omitempty"`
	// Compression of the endpoint's answers. Preserved, not yet interpreted.
	// +optional
	Compression *apiextensionsv1.JSON `json:"compression,omitempty"`
}

// ProxyAccessLog configures access logs.
type ProxyAccessLog struct {
	// Disable turns access logs off.
	// +optional
	Disable bool `json:"disable,omitempty"`
	// Settings are independent access log configurations.
	// +optional
	Settings []ProxyAccessLogSetting `json:"settings,omitempty"`
}

// ProxyAccessLogSetting is one access log: format, filters, sinks.
type ProxyAccessLogSetting struct {
	// +optional
	Format *ProxyAccessLogFormat `json:"format,omitempty"`
	// Matches are CEL expressions selecting which requests are logged.
	// +optional
	Matches []string `json:"matches,omitempty"`
	// +kubebuilder:validation:MinItems=1
	Sinks []ProxyAccessLogSink `json:"sinks"`
	// Type is Listener or Route; unset means both.
	// +optional
	// +kubebuilder:validation:Enum=Listener;Route
	Type *string `json:"type,omitempty"`
}

// ProxyAccessLogFormat is the log line format.
type ProxyAccessLogFormat struct {
	// +kubebuilder:validation:Enum=Text;JSON
	Type string `json:"type,omitempty"`
	// Text is an Envoy format string.
	// +optional
	Text *string `json:"text,omitempty"`
	// JSON maps keys to Envoy format strings.
	// +optional
	JSON map[string]string `json:"json,omitempty"`
}

// ProxyAccessLogSink is where log lines go.
type ProxyAccessLogSink struct {
	// +kubebuilder:validation:Enum=File;ALS;OpenTelemetry
	Type string `json:"type"`
	// +optional
	File *FileEnvoyProxyAccessLog `json:"file,omitempty"`
	// ALS (gRPC access log service) sink. Preserved, not yet interpreted.
	// +optional
	ALS *apiextensionsv1.JSON `json:"als,omitempty"`
	// OpenTelemetry sink. Preserved, not yet interpreted.
	// +optional
	OpenTelemetry *apiextensionsv1.JSON `json:"openTelemetry,omitempty"`
}

// FileEnvoyProxyAccessLog writes access logs to a file.
type FileEnvoyProxyAccessLog struct {
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path,omitempty"`
}

// BootstrapType is how a custom bootstrap is applied.
//
// +kubebuilder:validation:Enum=Merge;Replace;JSONPatch
type BootstrapType string

// Bootstrap types.
const (
	BootstrapTypeMerge     BootstrapType = "Merge"
	BootstrapTypeReplace   BootstrapType = "Replace"
	BootstrapTypeJSONPatch BootstrapType = "JSONPatch"
)

// ProxyBootstrap customizes the proxy bootstrap.
type ProxyBootstrap struct {
	// Type defaults to Replace.
	// +optional
	Type *BootstrapType `json:"type,omitempty"`
	// Value is the bootstrap as a YAML string (Merge, Replace).
	// +optional
	Value *string `json:"value,omitempty"`
	// JSONPatches apply to the default bootstrap (JSONPatch).
	// +optional
	JSONPatches []JSONPatchOperation `json:"jsonPatches,omitempty"`
}

// RoutingType selects endpoint or service routing.
//
// +kubebuilder:validation:Enum=Service;Endpoint
type RoutingType string

// IPFamily is the IP family of listeners.
//
// +kubebuilder:validation:Enum=IPv4;IPv6;DualStack
type IPFamily string

// ShutdownConfig tunes graceful drain.
type ShutdownConfig struct {
	// DrainTimeout is the longest drain. Default 60s.
	// +optional
	DrainTimeout *metav1.Duration `json:"drainTimeout,omitempty"`
	// MinDrainDuration is the shortest drain. Default 10s.
	// +optional
	MinDrainDuration *metav1.Duration `json:"minDrainDuration,omitempty"`
}

// EnvoyFilter is an HTTP filter type name used by filterOrder.
//
// +kubebuilder:validation:Enum=envoy.filters.http.custom_response;envoy.filters.http.health_check;envoy.filters.http.fault;envoy.filters.http.cors;envoy.filters.http.header_mutation;envoy.filters.http.ext_authz;envoy.filters.http.api_key_auth;envoy.filters.http.basic_auth;envoy.filters.http.oauth2;envoy.filters.http.jwt_authn;envoy.filters.http.stateful_session;envoy.filters.http.buffer;envoy.filters.http.lua;envoy.filters.http.ext_proc;envoy.filters.http.wasm;envoy.filters.http.dynamic_modules;envoy.filters.http.geoip;envoy.filters.http.rbac;envoy.filters.http.local_ratelimit;envoy.filters.http.ratelimit;envoy.filters.http.bandwidth_limit;envoy.filters.http.grpc_web;envoy.filters.http.grpc_stats;envoy.filters.http.credential_injector;envoy.filters.http.compressor;envoy.filters.http.dynamic_forward_proxy;envoy.filters.http.router
type EnvoyFilter string

// FilterPosition moves one filter type before or after another.
//
// +kubebuilder:validation:XValidation:rule="(has(self.before) || has(self.after)) && !(has(self.before) && has(self.after))",message="exactly one of before or after must be set"
type FilterPosition struct {
	// Name of the filter to move.
	Name EnvoyFilter `json:"name"`
	// Before is the filter it must precede.
	// +optional
	Before *EnvoyFilter `json:"before,omitempty"`
	// After is the filter it must follow.
	// +optional
	After *EnvoyFilter `json:"after,omitempty"`
}

// TLSVersion is a TLS protocol version.
//
// +kubebuilder:validation:Enum=Auto;"1.0";"1.1";"1.2";"1.3"
type TLSVersion string

// BackendTLSConfig is client TLS toward backends.
type BackendTLSConfig struct {
	// ClientCertificateRef is the client certificate for mTLS to backends.
	// +optional
	ClientCertificateRef *gwapiv1.SecretObjectReference `json:"clientCertificateRef,omitempty"`
	// +optional
	MinVersion *TLSVersion `json:"minVersion,omitempty"`
	// +optional
	MaxVersion *TLSVersion `json:"maxVersion,omitempty"`
	// +optional
	Ciphers []string `json:"ciphers,omitempty"`
	// +optional
	ECDHCurves []string `json:"ecdhCurves,omitempty"`
	// +optional
	SignatureAlgorithms []string `json:"signatureAlgorithms,omitempty"`
	// +optional
	ALPNProtocols []string `json:"alpnProtocols,omitempty"`
}
