package ir

// TCPListener is one Gateway listener of protocol TCP or TLS. Its routes
// are TCPRoutes (a TCP listener takes one) or TLSRoutes (one filter chain
// each, selected by SNI).
type TCPListener struct {
	// Name is <gateway-ns>/<gateway-name>/<listener-name>.
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    uint32 `json:"port"`
	// ExternalPort is the Gateway's port (see HTTPListener).
	ExternalPort uint32            `json:"externalPort,omitempty"`
	Routes       []*TCPRoute       `json:"routes,omitempty"`
	Metadata     *ResourceMetadata `json:"metadata,omitempty"`
}

// TCPRoute is a TCPRoute or TLSRoute on one listener: one filter chain
// whose tcp_proxy sends every connection to Destination.
type TCPRoute struct {
	// Name is tcproute/<ns>/<name> or tlsroute/<ns>/<name>.
	Name string `json:"name"`
	// TLS is set on TLS listeners: the chain reads the SNI, and in
	// Terminate mode terminates TLS.
	TLS *TLS `json:"tls,omitempty"`
	// Destination pools the backends of every rule, named
	// <kind>/<ns>/<name>/rule/-1 as Envoy Gateway does.
	Destination *RouteDestination `json:"destination,omitempty"`
	Metadata    *ResourceMetadata `json:"metadata,omitempty"`
}

// TLS is how a TLSRoute's chain treats TLS (Envoy Gateway's IR shape).
type TLS struct {
	// Inspector matches the SNI (Passthrough and Terminate).
	Inspector *TLSInspectorConfig `json:"inspector,omitempty"`
	// Terminate is the certificate the chain terminates with (Terminate
	// mode); the upstream connection is then plaintext.
	Terminate *TLSConfig `json:"terminate,omitempty"`
}

// TLSInspectorConfig lists the server names a chain matches: the route's
// hostnames intersected with the listener's; empty matches any.
type TLSInspectorConfig struct {
	SNIs []string `json:"snis,omitempty"`
}

// UDPListener is one Gateway listener of protocol UDP with its one route.
type UDPListener struct {
	Name         string            `json:"name"`
	Address      string            `json:"address"`
	Port         uint32            `json:"port"`
	ExternalPort uint32            `json:"externalPort,omitempty"`
	Route        *UDPRoute         `json:"route,omitempty"`
	Metadata     *ResourceMetadata `json:"metadata,omitempty"`
}

// UDPRoute is a UDPRoute on one listener: udp_proxy to Destination.
type UDPRoute struct {
	// Name is udproute/<ns>/<name>.
	Name        string            `json:"name"`
	Destination *RouteDestination `json:"destination,omitempty"`
	Metadata    *ResourceMetadata `json:"metadata,omitempty"`
}
