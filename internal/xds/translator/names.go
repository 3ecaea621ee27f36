package translator

import (
	"fmt"
	"strings"

	"github.com/portico-gw/portico/internal/ir"
)

// Names of the xDS resources, after Envoy Gateway's name schemes v1 and v2.

// externalPort is the Gateway port of a listener (ExternalPort, or Port
// when the IR does not set it).
func externalPort(l *ir.HTTPListener) uint32 {
	if l.ExternalPort != 0 {
		return l.ExternalPort
	}
	return l.Port
}

// listenerName is the Envoy listener that serves the IR listener l (the
// first IR listener of a port names it in scheme v1).
func listenerName(x *ir.Xds, first *ir.HTTPListener) string {
	if x.XDSNameSchemeV2 {
		return fmt.Sprintf("tcp-%d", externalPort(first))
	}
	return first.Name
}

// httpRouteConfigName names the route configuration (and default filter
// chain) of a plain-HTTP port.
func httpRouteConfigName(x *ir.Xds, first *ir.HTTPListener) string {
	if x.XDSNameSchemeV2 {
		return fmt.Sprintf("http-%d", externalPort(first))
	}
	return first.Name
}

// statPrefix is the HCM stat prefix: http-<port> or https-<port>, the
// container port in scheme v1 and the Gateway port in v2.
func statPrefix(x *ir.Xds, l *ir.HTTPListener) string {
	scheme := "http"
	if l.TLS != nil {
		scheme = "https"
	}
	port := l.Port
	if x.XDSNameSchemeV2 {
		port = externalPort(l)
	}
	return fmt.Sprintf("%s-%d", scheme, port)
}

// virtualHostName is <listener>/<host with . -> _> (v1) or the host alone (v2).
func virtualHostName(x *ir.Xds, l *ir.HTTPListener, hostname string) string {
	h := strings.ReplaceAll(hostname, ".", "_")
	if x.XDSNameSchemeV2 {
		return h
	}
	return l.Name + "/" + h
}

// readyListenerName is envoy-gateway-proxy-ready-<address>-<port>.
func readyListenerName(r *ir.ReadyListener) string {
	return fmt.Sprintf("envoy-gateway-proxy-ready-%s-%d", r.Address, r.Port)
}
