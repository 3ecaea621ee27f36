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
	ExternalPort uint32 `json:"externalPort,omitempty"`
	// TLSMode is "" for a TCP listener, Passthrough or Terminate for a TLS
	// one. It names the tcp_proxy stat prefix (tcp-, tls-passthrough-,
	// tls-terminate-<port>).
	TLSMode string `json:"tlsMode,omitempty"`
	// TLS, in Terminate mode, is the certificate every chain terminates
	// with; the upstream connection is plaintext.
	TLS      *TLSConfig        `json:"tls,omitempty"`
	Routes   []*TCPRoute       `json:"routes,omitempty"`
	Metadata *ResourceMetadata `json:"metadata,omitempty"`
}

// TCPRoute is a TCPRoute or TLSRoute on one listener: one filter chain
// whose tcp_proxy sends every connection to Destination.
type TCPRoute struct {
	// Name is tcproute/<ns>/<name> or tlsroute/<ns>/<name>.
	Name string `json:"name"`
	// SNIs are the server names the chain matches (TLS listeners: the
	// route's hostnames intersected with the listener's); empty matches any.
	SNIs []string `json:"snis,omitempty"`
	// Destination pools the backends of every rule, named
	// <kind>/<ns>/<name>/rule/-1 as Envoy Gateway does.
	Destination *RouteDestination `json:"destination,omitempty"`
	Metadata    *ResourceMetadata `json:"metadata,omitempty"`
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
