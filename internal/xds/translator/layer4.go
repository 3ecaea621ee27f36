package translator

import (
	"fmt"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"

	"github.com/portico-gw/portico/internal/ir"
)

// TCP, TLS and UDP listeners as Envoy Gateway emits them: one filter chain
// per route holding only tcp_proxy (TLS: matched by SNI behind the
// tls_inspector, and terminated first in Terminate mode), or a UDP listener
// whose udp_proxy routes every datagram to the route's cluster.

const (
	tcpProxyFilterName = "envoy.filters.network.tcp_proxy"
	udpProxyFilterName = "envoy.filters.udp_listener.udp_proxy"
)

// translateLayer4 adds the TCP and UDP listeners of x and their clusters.
// TCP and TLS listeners on one address and port are one Envoy listener,
// named after the first, with every route's chain; TLS listeners on an
// HTTPS port add their chains to the HTTPS listener (Envoy Gateway merges
// them the same way). One on a plain HTTP port would need a listener
// mixing plaintext HTTP and tcp_proxy, which is not done yet: it is left
// out with an error.
func translateLayer4(x *ir.Xds, s *Sink, e *errs) {
	httpPorts := map[string]*ir.HTTPListener{} // the first of each port
	for _, l := range x.HTTP {
		if l == nil {
			continue
		}
		if k := fmt.Sprintf("%s|%d", l.Address, l.Port); httpPorts[k] == nil {
			httpPorts[k] = l
		}
	}
	var order []string
	byPort := map[string][]*ir.TCPListener{}
	for _, l := range x.TCP {
		if l == nil {
			continue
		}
		k := fmt.Sprintf("%s|%d", l.Address, l.Port)
		if h := httpPorts[k]; h != nil {
			if err := addToHTTPS(x, h, l, s, e); err != nil {
				e.add("TCPListener", l.Name, err)
			}
			continue
		}
		if byPort[k] == nil {
			order = append(order, k)
		}
		byPort[k] = append(byPort[k], l)
	}
	for _, k := range order {
		translateTCPPort(x, byPort[k], s, e)
		s.flushPending(e)
	}
	for _, l := range x.UDP {
		if l != nil && l.Route != nil {
			translateUDPListener(x, l, s, e)
			s.flushPending(e)
		}
	}
}

// addToHTTPS adds the chains of a TLS listener to the Envoy listener of
// the HTTPS port it shares (first names it). Its routes must all select
// by SNI: a chain without server names would take the HTTPS listener's
// clients without SNI.
func addToHTTPS(x *ir.Xds, first *ir.HTTPListener, l *ir.TCPListener, s *Sink, e *errs) error {
	if first.TLS == nil {
		return fmt.Errorf("port %d is also an HTTP listener's; sharing it with a TLS or TCP listener is not supported by Portico yet", l.Port)
	}
	var lis *listenerv3.Listener
	name := listenerName(x, first)
	for _, cand := range s.res.Listeners {
		if cand.GetName() == name {
			lis = cand
		}
	}
	if lis == nil {
		return fmt.Errorf("the HTTPS listener %s of port %d was not built", name, l.Port)
	}
	for _, r := range l.Routes {
		if r.TLS == nil || r.TLS.Inspector == nil || len(serverNames(r.TLS.Inspector.SNIs)) == 0 {
			e.add("TCPRoute", r.Name, fmt.Errorf("on an HTTPS listener's port a route must select by SNI (hostnames)"))
			continue
		}
		chain, err := tcpFilterChain(x, l, r, s)
		if err != nil {
			e.add("TCPRoute", r.Name, err)
			continue
		}
		lis.FilterChains = append(lis.FilterChains, chain)
	}
	if lis.ListenerFilters == nil {
		lis.ListenerFilters = tlsInspector()
	}
	s.flushPending(e)
	return nil
}

// translateTCPPort builds the Envoy listener of the TCP and TLS listeners
// ls, which share one address and port.
func translateTCPPort(x *ir.Xds, ls []*ir.TCPListener, s *Sink, e *errs) {
	first := ls[0]
	lis := &listenerv3.Listener{
		Name:                                 layer4ListenerName(x, "tcp", first.Name, first.ExternalPort, first.Port),
		Address:                              socketAddress(first.Address, first.Port),
		PerConnectionBufferLimitBytes:        wrapUint32(bufferLimit),
		MaxConnectionsToAcceptPerSocketEvent: wrapUint32(1),
		AccessLog:                            accessLogs(x.AccessLog, true),
	}
	for _, l := range ls {
		for _, r := range l.Routes {
			if r.TLS != nil && lis.ListenerFilters == nil {
				lis.ListenerFilters = tlsInspector()
			}
			chain, err := tcpFilterChain(x, l, r, s)
			if err != nil {
				e.add("TCPRoute", r.Name, err)
				continue
			}
			lis.FilterChains = append(lis.FilterChains, chain)
		}
	}
	if len(lis.FilterChains) > 0 {
		s.AddListener(lis)
	}
}

// tcpFilterChain is one route's chain and cluster.
func tcpFilterChain(x *ir.Xds, l *ir.TCPListener, r *ir.TCPRoute, s *Sink) (*listenerv3.FilterChain, error) {
	if r.Destination == nil {
		return nil, fmt.Errorf("route has no destination")
	}
	if err := addCluster(clusterSpec{name: r.Destination.Name, settings: r.Destination.Settings, metadata: r.Destination.Metadata}, s); err != nil {
		return nil, err
	}
	proxy := &tcpproxyv3.TcpProxy{
		StatPrefix:       tcpStatPrefix(l, r),
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: r.Destination.Name},
		AccessLog:        accessLogs(x.AccessLog, false),
	}
	chain := &listenerv3.FilterChain{
		Name: r.Name,
		Filters: []*listenerv3.Filter{{
			Name:       tcpProxyFilterName,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(proxy)},
		}},
	}
	if r.TLS == nil {
		return chain, nil
	}
	if r.TLS.Inspector != nil {
		if names := serverNames(r.TLS.Inspector.SNIs); len(names) > 0 {
			chain.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
		}
	}
	if r.TLS.Terminate != nil {
		ts, secrets, err := downstreamTLS(r.TLS.Terminate, r.TLS.Terminate.AlpnProtocols)
		if err != nil {
			return nil, err
		}
		for _, sec := range secrets {
			s.AddSecret(sec)
		}
		chain.TransportSocket = ts
	}
	return chain, nil
}

// tcpStatPrefix is tcp-<port>, tls-passthrough-<port> or
// tls-terminate-<port>, with the container port in both name schemes.
func tcpStatPrefix(l *ir.TCPListener, r *ir.TCPRoute) string {
	switch {
	case r.TLS != nil && r.TLS.Terminate != nil:
		return fmt.Sprintf("tls-terminate-%d", l.Port)
	case r.TLS != nil:
		return fmt.Sprintf("tls-passthrough-%d", l.Port)
	}
	return fmt.Sprintf("tcp-%d", l.Port)
}

// layer4ListenerName is the IR name, or <proto>-<port> in name scheme v2.
func layer4ListenerName(x *ir.Xds, proto, name string, external, port uint32) string {
	if !x.XDSNameSchemeV2 {
		return name
	}
	if external == 0 {
		external = port
	}
	return fmt.Sprintf("%s-%d", proto, external)
}

func translateUDPListener(x *ir.Xds, l *ir.UDPListener, s *Sink, e *errs) {
	r := l.Route
	if r.Destination == nil {
		e.add("UDPRoute", r.Name, fmt.Errorf("route has no destination"))
		return
	}
	if err := addCluster(clusterSpec{name: r.Destination.Name, settings: r.Destination.Settings, metadata: r.Destination.Metadata}, s); err != nil {
		e.add("UDPRoute", r.Name, err)
		return
	}
	proxy := &udpproxyv3.UdpProxyConfig{
		StatPrefix: "service",
		AccessLog:  accessLogs(x.AccessLog, false),
		RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &matcherv3.Matcher{
			OnNoMatch: &matcherv3.Matcher_OnMatch{OnMatch: &matcherv3.Matcher_OnMatch_Action{Action: &xdscorev3.TypedExtensionConfig{
				Name:        "route",
				TypedConfig: mustAny(&udpproxyv3.Route{Cluster: r.Destination.Name}),
			}}},
		}},
	}
	addr := socketAddress(l.Address, l.Port)
	addr.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
	s.AddListener(&listenerv3.Listener{
		Name:      layer4ListenerName(x, "udp", l.Name, l.ExternalPort, l.Port),
		Address:   addr,
		AccessLog: accessLogs(x.AccessLog, true),
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       udpProxyFilterName,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(proxy)},
		}},
	})
}
