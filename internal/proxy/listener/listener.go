// Package listener is the built-in proxy's listeners: an LDS Listener
// compiled (address, filter chains with their match, TLS and one
// HttpConnectionManager or tcp_proxy each), linked with the secrets, routes and
// clusters of a config into a Runtime, and the sockets that serve them:
// bound before an LDS update is ACKed, swapped atomically on every update,
// drained when a listener goes, under the downstream connection limit.
// Plaintext HTTP/1 connections are served by h1srv, TLS and HTTP/2 by
// net/http; either way a request goes to the chain's hcm.Runtime.
package listener

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/hcm"
	"github.com/portico-gw/portico/internal/proxy/tcpproxy"
	"github.com/portico-gw/portico/internal/proxy/tlsconf"
	"github.com/portico-gw/portico/internal/proxy/udpproxy"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

const (
	hcmType          = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	tlsInspectorType = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
)

// Config is a compiled Listener.
type Config struct {
	name   string
	addr   string   // host:port to bind
	chains []*chain // filter_chains, in order
	def    *chain   // default_filter_chain
	tls    bool     // every chain terminates TLS
	// ignoreConnLimit: the listener's connections are not counted against
	// the downstream connection limit (ignore_global_conn_limit, or
	// bypass_overload_manager).
	ignoreConnLimit bool
	// tcp: every chain is a tcp_proxy (tcp.go); mixed: some are, the
	// others HTTPS chains, all chosen by SNI; inspector: the
	// tls_inspector reads the SNI before a chain is chosen, within
	// filtersTimeout.
	tcp, mixed     bool
	inspector      bool
	filtersTimeout time.Duration
	listenerLogs   []*accesslog.Spec // tcp: the listener's access_log
	// continueOnTimeout: a tcp_proxy connection without a ClientHello
	// within filtersTimeout is served with no SNI rather than closed.
	continueOnTimeout bool
	// udp is a UDP listener's udp_proxy (udp.go); it has no chains.
	udp   *udpproxy.Config
	stats connStats // listener.<address>.* counters
}

// chain is one filter chain: its match, TLS and HCM or tcp_proxy.
type chain struct {
	name        string
	serverNames []string
	tls         *tlsconf.Spec
	hcm         *hcm.Config
	tcp         *tcpproxy.Config
}

// Addr is the address the listener binds: host:port, or udp://host:port
// for a UDP listener (a TCP and a UDP listener may share a port).
func (l *Config) Addr() string {
	if l.udp != nil {
		return udpScheme + l.addr
	}
	return l.addr
}

// SDSNames lists the secrets the listener's chains need.
func (l *Config) SDSNames() []string {
	var out []string
	for _, c := range l.allChains() {
		out = append(out, c.tls.SDSNames()...)
	}
	return out
}

func (l *Config) allChains() []*chain {
	out := append([]*chain(nil), l.chains...)
	if l.def != nil {
		out = append(out, l.def)
	}
	return out
}

// RDSNames lists the route configurations the chains use.
func (l *Config) RDSNames() []string {
	var out []string
	for _, c := range l.allChains() {
		if c.hcm != nil && c.hcm.RDSName != "" {
			out = append(out, c.hcm.RDSName)
		}
	}
	return out
}

// Compile compiles an LDS Listener; its HCMs build their filters with bc.
func Compile(l *listenerv3.Listener, bc filters.BuildContext) (*Config, []string, error) {
	if err := xdsconf.CheckFields("listener "+l.GetName(), l, "name", "address", "filter_chains", "default_filter_chain",
		"listener_filters", "per_connection_buffer_limit_bytes", "traffic_direction", "enable_reuse_port",
		"stat_prefix", "metadata", "listener_filters_timeout", "continue_on_listener_filters_timeout", "drain_type",
		"max_connections_to_accept_per_socket_event", "access_log", "tcp_backlog_size", "ignore_global_conn_limit",
		"bypass_overload_manager"); err != nil {
		return nil, nil, err
	}
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil {
		return nil, nil, fmt.Errorf("listener %s: only socket addresses are supported", l.GetName())
	}
	if sa.GetProtocol() == corev3.SocketAddress_UDP {
		return compileUDP(l, sa)
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return nil, nil, fmt.Errorf("listener %s: only TCP and UDP listeners are supported", l.GetName())
	}
	lc := &Config{name: l.GetName(), addr: net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))),
		// The connection limit is the built-in proxy's only overload
		// action, so bypassing the overload manager (Envoy Gateway's
		// readiness listener does) means not being counted.
		ignoreConnLimit: l.GetIgnoreGlobalConnLimit() || l.GetBypassOverloadManager()}
	lc.stats = newConnStats(bc.Stats, lc.addr)
	if err := lc.compileListenerFilters(l); err != nil {
		return nil, nil, err
	}
	var warnings []string
	for i, fc := range l.GetFilterChains() {
		c, warn, err := compileChain(fc, sa.GetPortValue(), bc)
		if err != nil {
			return nil, nil, fmt.Errorf("listener %s: filter chain %d (%s): %v", l.GetName(), i, fc.GetName(), err)
		}
		lc.chains = append(lc.chains, c)
		warnings = append(warnings, warn...)
	}
	if dc := l.GetDefaultFilterChain(); dc != nil {
		c, warn, err := compileChain(dc, sa.GetPortValue(), bc)
		if err != nil {
			return nil, nil, fmt.Errorf("listener %s: default filter chain: %v", l.GetName(), err)
		}
		lc.def = c
		warnings = append(warnings, warn...)
	}
	all := lc.allChains()
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("listener %s: no filter chain", l.GetName())
	}
	if tcp, mixed, err := chainKinds(all, lc.inspector); err != nil {
		return nil, nil, fmt.Errorf("listener %s: %v", l.GetName(), err)
	} else if tcp || mixed {
		lc.tcp, lc.mixed = tcp, mixed
		// A connection no chain takes is logged here, with flag NR.
		if lc.listenerLogs, err = accesslog.Compile(l.GetAccessLog()); err != nil {
			return nil, nil, fmt.Errorf("listener %s: %v", l.GetName(), err)
		}
		return lc, warnings, nil
	}
	if len(l.GetAccessLog()) > 0 {
		// Listener access logs record connections no filter chain took;
		// Go's HTTP server gives no hook for those, so they are not written.
		warnings = append(warnings, "listener "+l.GetName()+": listener-level access_log accepted but not written")
	}
	lc.tls = all[0].tls != nil
	for _, c := range all {
		if (c.tls != nil) != lc.tls {
			return nil, nil, fmt.Errorf("listener %s: mixing TLS and plaintext filter chains on one listener is not supported", l.GetName())
		}
		if !lc.tls && len(c.serverNames) > 0 {
			return nil, nil, fmt.Errorf("listener %s: server_names on a plaintext filter chain can never match", l.GetName())
		}
	}
	return lc, warnings, nil
}

// compileListenerFilters takes the tls_inspector, which reads the SNI:
// Go's TLS handshake gives it to HTTPS chains, peekServerName to tcp_proxy
// ones. Other listener filters are refused.
func (lc *Config) compileListenerFilters(l *listenerv3.Listener) error {
	for _, lf := range l.GetListenerFilters() {
		if lf.GetTypedConfig().GetTypeUrl() != tlsInspectorType {
			return fmt.Errorf("listener %s: listener filter %q is not supported", l.GetName(), lf.GetName())
		}
		lc.inspector = true
	}
	lc.filtersTimeout, lc.continueOnTimeout = defaultFiltersTimeout, l.GetContinueOnListenerFiltersTimeout()
	if t := l.GetListenerFiltersTimeout(); t != nil {
		lc.filtersTimeout = t.AsDuration()
	}
	return nil
}

func compileChain(fc *listenerv3.FilterChain, port uint32, bc filters.BuildContext) (*chain, []string, error) {
	if err := xdsconf.CheckFields("filter chain", fc, "filter_chain_match", "filters", "transport_socket", "name", "metadata",
		"transport_socket_connect_timeout"); err != nil {
		return nil, nil, err
	}
	c := &chain{name: fc.GetName()}
	if m := fc.GetFilterChainMatch(); m != nil {
		if err := xdsconf.CheckFields("filter_chain_match", m, "server_names", "transport_protocol", "destination_port"); err != nil {
			return nil, nil, err
		}
		if m.GetDestinationPort() != nil && m.GetDestinationPort().GetValue() != port {
			return nil, nil, fmt.Errorf("filter_chain_match destination_port %d differs from the listener port", m.GetDestinationPort().GetValue())
		}
		for _, n := range m.GetServerNames() {
			c.serverNames = append(c.serverNames, strings.ToLower(n))
		}
	}
	var warnings []string
	var err error
	if c.tls, warnings, err = tlsconf.Downstream(fc.GetTransportSocket()); err != nil {
		return nil, nil, err
	}
	if tp := fc.GetFilterChainMatch().GetTransportProtocol(); tp != "" && tp != map[bool]string{true: "tls", false: "raw_buffer"}[c.tls != nil] {
		return nil, nil, fmt.Errorf("transport_protocol %q does not fit the chain's transport socket", tp)
	}
	if len(fc.GetFilters()) == 1 && fc.GetFilters()[0].GetTypedConfig().GetTypeUrl() == tcpproxy.TypeURL {
		if c.tcp, err = tcpproxy.Compile(fc.GetFilters()[0].GetTypedConfig(), bc.Stats); err != nil {
			return nil, nil, err
		}
		return c, warnings, nil
	}
	if len(fc.GetFilters()) != 1 || fc.GetFilters()[0].GetTypedConfig().GetTypeUrl() != hcmType {
		var names []string
		for _, f := range fc.GetFilters() {
			names = append(names, f.GetName())
		}
		return nil, nil, fmt.Errorf("the filter chain must be exactly one http_connection_manager or tcp_proxy, got %v", names)
	}
	var h hcmv3.HttpConnectionManager
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&h); err != nil {
		return nil, nil, err
	}
	hc, warn, err := hcm.Compile(&h, bc)
	if err != nil {
		return nil, nil, err
	}
	c.hcm = hc
	return c, append(warnings, warn...), nil
}
