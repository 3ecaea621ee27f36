package ir

import "encoding/json"

// EnvoyExtensionFeatures are the EnvoyExtensionPolicy filters that apply to
// one route. The JSON names are Envoy Gateway's (see the lua corpus case).
type EnvoyExtensionFeatures struct {
	// Luas are the route's Lua filters, in policy order.
	Luas []Lua `json:"luas,omitempty"`
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
