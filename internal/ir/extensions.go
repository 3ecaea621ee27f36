package ir

// EnvoyExtensionFeatures are the EnvoyExtensionPolicy filters that apply to
// one route. The JSON names are Envoy Gateway's (see the lua corpus case).
type EnvoyExtensionFeatures struct {
	// Luas are the route's Lua filters, in policy order.
	Luas []Lua `json:"luas,omitempty"`
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
