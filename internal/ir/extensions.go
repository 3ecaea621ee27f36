package ir

import "encoding/json"

// EnvoyExtensionFeatures are the EnvoyExtensionPolicy filters that apply to
// one route. The JSON names are Envoy Gateway's (see the lua corpus case).
type EnvoyExtensionFeatures struct {
	// Luas are the route's Lua filters, in policy order.
	Luas []Lua `json:"luas,omitempty"`
	// ExtProcs are the route's external processors, in policy order.
	ExtProcs []ExtProc `json:"extProcs,omitempty"`
	// Wasms are the route's Wasm filters, in policy order.
	Wasms []Wasm `json:"wasms,omitempty"`
}

// Lua is one Lua filter instance. Name is
// envoyextensionpolicy/<ns>/<policy>/lua/<index>; it becomes the HTTP filter
// name suffix, so every route using the same script shares one HCM entry.
type Lua struct {
	Name string `json:"name"`
	// Code is the validated script.
	Code *string `json:"code,omitempty"`
	// FilterContext is exposed to the script through filterContext(); it
	// becomes LuaPerRoute.filter_context.
	FilterContext map[string]any `json:"filterContext,omitempty"`
}

// ExtProc is one external processing filter instance (Envoy Gateway's IR
// shape, see the ext-proc corpus cases). Name is
// envoyextensionpolicy/<ns>/<policy>/extproc/<index>; it names the HTTP
// filter, and Destination the cluster of the processor.
type ExtProc struct {
	Name        string           `json:"name"`
	Destination RouteDestination `json:"destination"`
	// Authority is the :authority of the gRPC stream to the processor.
	Authority string `json:"authority"`
	// MessageTimeout bounds each answer of the processor ("200ms"); unset
	// is Envoy's 200ms.
	MessageTimeout *string `json:"messageTimeout,omitempty"`
	// FailOpen lets the request continue unprocessed when the processor
	// fails (failure_mode_allow).
	FailOpen *bool `json:"failOpen,omitempty"`
	// RequestHeaderProcessing and ResponseHeaderProcessing send the headers
	// of that direction.
	RequestHeaderProcessing  bool `json:"requestHeaderProcessing,omitempty"`
	ResponseHeaderProcessing bool `json:"responseHeaderProcessing,omitempty"`
	// RequestBodyProcessingMode and ResponseBodyProcessingMode are
	// Streamed, Buffered, BufferedPartial or FullDuplexStreamed; unset
	// sends no body.
	RequestBodyProcessingMode  *string `json:"requestBodyProcessingMode,omitempty"`
	ResponseBodyProcessingMode *string `json:"responseBodyProcessingMode,omitempty"`
	// RequestAttributes and ResponseAttributes are the attribute names
	// sent with the headers of that direction.
	RequestAttributes  []string `json:"requestAttributes,omitempty"`
	ResponseAttributes []string `json:"responseAttributes,omitempty"`
	// ForwardingMetadataNamespaces are the dynamic metadata namespaces
	// sent to the processor; ReceivingMetadataNamespaces those it may write.
	ForwardingMetadataNamespaces []string `json:"forwardingMetadataNamespaces,omitempty"`
	ReceivingMetadataNamespaces  []string `json:"receivingMetadataNamespaces,omitempty"`
	// AllowModeOverride lets the processor change the processing mode in
	// its answers to headers.
	AllowModeOverride bool `json:"allowModeOverride,omitempty"`
	// ShadowMode sends without waiting for answers (observability_mode).
	ShadowMode bool `json:"shadowMode,omitempty"`
	// StatusOnError is the HTTP status of a failed processing (Envoy's
	// default 500).
	StatusOnError *uint32 `json:"statusOnError,omitempty"`
}

// Wasm is one proxy-wasm filter instance (Envoy Gateway's IR shape, see the
// wasm corpus case). Name is envoyextensionpolicy/<ns>/<policy>/wasm/<index>;
// it names the HTTP filter and the VM.
type Wasm struct {
	Name string `json:"name"`
	// RootID is the root context the module registers (proxy-wasm root_id).
	RootID *string `json:"rootID,omitempty"`
	// WasmName is the policy entry's name, or Name when it has none.
	WasmName string `json:"wasmName"`
	// Config is handed to the plugin as compact JSON (proxy_on_configure).
	Config json.RawMessage `json:"config,omitempty"`
	// FailOpen lets requests through when the VM cannot run.
	FailOpen bool `json:"failOpen"`
	// Code is where proxies download the module from.
	Code *HTTPWasmCode `json:"httpWasmCode,omitempty"`
	// HostKeys are host environment variables the VM may read.
	HostKeys []string `json:"hostKeys,omitempty"`
}

// HTTPWasmCode is a module as the control plane serves it to proxies.
type HTTPWasmCode struct {
	// ServingURL is the control plane's wasm server URL of the module.
	ServingURL string `json:"servingURL"`
	// OriginalURL is where the control plane downloaded it from.
	OriginalURL string `json:"originalDownloadingURL"`
	// SHA256 is the hex sha256 of the module's bytes.
	SHA256 string `json:"sha256"`
}
