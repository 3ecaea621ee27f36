package proxy_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/proxy/tcpproxy/tcptest"
	"github.com/portico-gw/portico/internal/proxy/tlsconf/tlstest"
)

// jsonLog is an access log with Envoy Gateway's TCP-relevant fields.
func jsonLog() []*accesslogv3.AccessLog {
	st, _ := structpb.NewStruct(map[string]any{
		"response_flags": "%RESPONSE_FLAGS%", "upstream_cluster": "%UPSTREAM_CLUSTER%", "upstream_host": "%UPSTREAM_HOST%",
		"requested_server_name": "%REQUESTED_SERVER_NAME%", "bytes_received": "%BYTES_RECEIVED%", "bytes_sent": "%BYTES_SENT%",
		"protocol": "%PROTOCOL%", "method": "%REQ(:METHOD)%", "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
	})
	return []*accesslogv3.AccessLog{{Name: "envoy.access_loggers.file", ConfigType: &accesslogv3.AccessLog_TypedConfig{
		TypedConfig: mustAny(&filev3.FileAccessLog{Path: "/dev/stdout", AccessLogFormat: &filev3.FileAccessLog_LogFormat{
			LogFormat: &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: st}}}})}}}
}

func tcpProxyChain(name, cluster string, sni ...string) *listenerv3.FilterChain {
	fc := &listenerv3.FilterChain{Name: name, Filters: []*listenerv3.Filter{{
		Name: "envoy.filters.network.tcp_proxy",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&tcpproxyv3.TcpProxy{
			StatPrefix: "tcp", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}, AccessLog: jsonLog()})},
	}}}
	if len(sni) > 0 {
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: sni}
	}
	return fc
}

func tcpListener(name string, port uint32, inspector bool, chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	l := &listenerv3.Listener{Name: name, Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}, FilterChains: chains}
	if inspector {
		l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.tls_inspector",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})}}}
	}
	return l
}

func dialTCP(t testing.TB, port uint32) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TCP: bytes both ways, half-close passed on (the client's EOF reaches the
// backend, whose answer still comes back), one log line per connection.
func TestTCPProxyEchoHalfClose(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {tcpListener("default/eg/tcp", port, false, tcpProxyChain("tcproute/default/echo", "echo"))},
		resourcev3.ClusterType:  {edsCluster("echo", nil)},
		resourcev3.EndpointType: {cla("echo", tcptest.Echo(t, "echo"))},
	})
	c := dialTCP(t, port)
	if _, err := io.WriteString(c, "hello over tcp"); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "echo:hello over tcp" {
		t.Fatalf("got %q, %v", got, err)
	}
	line := waitLog(t, h, `"upstream_cluster":"echo"`)
	for _, want := range []string{`"bytes_received":14`, `"bytes_sent":19`, `"response_flags":null`, `"method":null`, `"protocol":null`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %s lacks %s", line, want)
		}
	}
	// Envoy's tcp_proxy stats, tcp.<stat_prefix>.*, land before the log line.
	for name, want := range map[string]int64{"tcp.tcp.downstream_cx_total": 1, "tcp.tcp.downstream_cx_rx_bytes_total": 14,
		"tcp.tcp.downstream_cx_tx_bytes_total": 19, "tcp.tcp.downstream_cx_no_route": 0, "tcp.tcp.idle_timeout": 0} {
		if got := counter(h, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

// waitLog returns the first access log line containing want.
func waitLog(t testing.TB, h *harness, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(h.log.String(), "\n") {
			if strings.Contains(l, want) {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no access log line with %s in:\n%s", want, h.log.String())
	return ""
}

// Passthrough: the chain is chosen by the ClientHello's SNI, which is not
// consumed: the client completes its handshake with the backend itself and
// sees the backend's certificate. An unknown SNI is closed.
func TestTLSPassthroughBySNI(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ca := tlstest.NewCA(t)
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {withListenerLog(tcpListener("default/eg/tls", port, true,
			tcpProxyChain("tlsroute/default/a", "a", "a.test"), tcpProxyChain("tlsroute/default/b", "b", "*.b.test")))},
		resourcev3.ClusterType:  {edsCluster("a", nil), edsCluster("b", nil)},
		resourcev3.EndpointType: {cla("a", tcptest.TLSNamed(t, ca, "a.test")), cla("b", tcptest.TLSNamed(t, ca, "x.b.test"))},
	})
	for _, sni := range []string{"a.test", "x.b.test"} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+itoa(port), &tls.Config{RootCAs: ca.Pool(), ServerName: sni})
		if err != nil {
			t.Fatalf("%s: %v", sni, err)
		}
		if cn := c.ConnectionState().PeerCertificates[0].DNSNames[0]; cn != sni {
			t.Errorf("%s: the client saw the certificate of %s", sni, cn)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if line != "backend "+sni+"\n" {
			t.Errorf("%s: got %q", sni, line)
		}
	}
	waitLog(t, h, `"requested_server_name":"x.b.test"`)
	_, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+itoa(port), &tls.Config{RootCAs: ca.Pool(), ServerName: "nope.test"})
	if err == nil {
		t.Error("an SNI no chain matches must not be served")
	}
	// The listener's own access log records it, flag NR.
	waitLog(t, h, `"requested_server_name":"nope.test","response_flags":"NR"`)
}

func withListenerLog(l *listenerv3.Listener) *listenerv3.Listener {
	l.AccessLog = jsonLog()
	return l
}

// Terminate: the chain's DownstreamTlsContext terminates TLS with the
// gateway's certificate; the backend gets plaintext.
func TestTLSTerminateToPlainTCP(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ca := tlstest.NewCA(t)
	chain, key := ca.Leaf(t, "gw.test")
	fc := tcpProxyChain("tlsroute/default/t", "echo", "gw.test")
	fc.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
		TypedConfig: mustAny(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("default/gw-cert")}}})}}
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {tcpListener("default/eg/tls-terminate", port, true, fc)},
		resourcev3.ClusterType:  {edsCluster("echo", nil)},
		resourcev3.EndpointType: {cla("echo", tcptest.Echo(t, "plain"))},
		resourcev3.SecretType:   {certSecret("default/gw-cert", chain, key)},
	})
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+itoa(port), &tls.Config{RootCAs: ca.Pool(), ServerName: "gw.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if string(got) != "plain:ping" {
		t.Errorf("got %q", got)
	}
}

// A backend that refuses connections: the downstream connection is closed
// and the log says UF; a cluster without hosts says UH.
func TestTCPProxyUpstreamFailure(t *testing.T) {
	h := newHarness(t)
	port, refused, empty := freePort(t), freePort(t), freePort(t)
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {tcpListener("default/eg/tcp", port, false, tcpProxyChain("tcproute/default/down", "down")),
			tcpListener("default/eg/empty", empty, false, tcpProxyChain("tcproute/default/empty", "none"))},
		resourcev3.ClusterType:  {edsCluster("down", nil), edsCluster("none", nil)},
		resourcev3.EndpointType: {cla("down", "127.0.0.1:"+itoa(refused)), cla("none")},
	})
	for _, p := range []uint32{port, empty} {
		c := dialTCP(t, p)
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("port %d: read %d bytes from a connection whose upstream failed", p, n)
		}
	}
	waitLog(t, h, `"response_flags":"UF"`)
	waitLog(t, h, `"response_flags":"UH"`)
	if got := counter(h, "cluster.down.upstream_cx_connect_fail"); got != 1 {
		t.Errorf("cluster.down.upstream_cx_connect_fail = %d, want 1", got)
	}
	if got := counter(h, "tcp.tcp.downstream_cx_total"); got != 2 {
		t.Errorf("tcp.tcp.downstream_cx_total = %d, want 2", got)
	}
}

// Idle connections are closed after idle_timeout.
func TestTCPProxyIdleTimeout(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	fc := tcpProxyChain("tcproute/default/echo", "echo")
	var tp tcpproxyv3.TcpProxy
	_ = fc.Filters[0].GetTypedConfig().UnmarshalTo(&tp)
	tp.IdleTimeout = durationpb.New(200 * time.Millisecond)
	fc.Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&tp)}
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {tcpListener("default/eg/tcp", port, false, fc)},
		resourcev3.ClusterType:  {edsCluster("echo", nil)},
		resourcev3.EndpointType: {cla("echo", tcptest.Echo(t, "echo"))},
	})
	c := dialTCP(t, port)
	got, err := io.ReadAll(c) // the deadline is 10s; the idle timeout ends it first
	if err != nil || string(got) != "echo:" {
		t.Errorf("got %q, %v: the idle connection was not closed", got, err)
	}
	if n := counter(h, "tcp.tcp.idle_timeout"); n != 1 {
		t.Errorf("tcp.tcp.idle_timeout = %d, want 1", n)
	}
}

// What the proxy cannot honour is NACKed with a reason.
func TestTCPProxyNACKs(t *testing.T) {
	for name, tc := range map[string]struct {
		l    *listenerv3.Listener
		want string
	}{
		"unsupported field": {tcpListener("l", 0, false, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&tcpproxyv3.TcpProxy{
				StatPrefix: "x", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "c"},
				TunnelingConfig: &tcpproxyv3.TcpProxy_TunnelingConfig{Hostname: "h"}})}}}}), "tunneling_config"},
		"mixed chains": {func() *listenerv3.Listener {
			l := tcpListener("l", 0, true, tcpProxyChain("tcp", "c", "a.test"))
			l.DefaultFilterChain = listener("x", 0, "rc", nil).DefaultFilterChain
			return l
		}(), "mixing tcp_proxy and plaintext http_connection_manager"},
		"udp_proxy matcher rules": {func() *listenerv3.Listener {
			l := udpListener("u", 0, "c")
			var u udpproxyv3.UdpProxyConfig
			_ = l.ListenerFilters[0].GetTypedConfig().UnmarshalTo(&u)
			u.GetMatcher().MatcherType = &matcherv3.Matcher_MatcherList_{MatcherList: &matcherv3.Matcher_MatcherList{}}
			l.ListenerFilters[0].ConfigType = &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&u)}
			return l
		}(), "matcher rules are not supported"},
		"udp_proxy hash policy": {func() *listenerv3.Listener {
			l := udpListener("u", 0, "c")
			var u udpproxyv3.UdpProxyConfig
			_ = l.ListenerFilters[0].GetTypedConfig().UnmarshalTo(&u)
			u.HashPolicies = []*udpproxyv3.UdpProxyConfig_HashPolicy{{PolicySpecifier: &udpproxyv3.UdpProxyConfig_HashPolicy_SourceIp{SourceIp: true}}}
			l.ListenerFilters[0].ConfigType = &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&u)}
			return l
		}(), "hash_policies"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			tc.l.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: freePort(t)}
			h.push(t, map[string][]types.Resource{resourcev3.ListenerType: {tc.l}, resourcev3.ClusterType: {edsCluster("c", nil)}})
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				for _, n := range h.nacks() {
					if strings.Contains(n, tc.want) {
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Fatalf("no NACK naming %q; NACKs: %v", tc.want, h.nacks())
		})
	}
}

func udpListener(name string, port uint32, cluster string) *listenerv3.Listener {
	return &listenerv3.Listener{Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Protocol: corev3.SocketAddress_UDP, Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
		ListenerFilters: []*listenerv3.ListenerFilter{{Name: "envoy.filters.udp_listener.udp_proxy",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&udpproxyv3.UdpProxyConfig{
				StatPrefix: "service", AccessLog: jsonLog(),
				RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &matcherv3.Matcher{
					OnNoMatch: &matcherv3.Matcher_OnMatch{OnMatch: &matcherv3.Matcher_OnMatch_Action{Action: &xdscorev3.TypedExtensionConfig{
						Name: "route", TypedConfig: mustAny(&udpproxyv3.Route{Cluster: cluster})}}}}}})}}},
	}
}

// UDP: each client's datagrams reach the backend and its answers come
// back; a TCP listener on the same port is no conflict.
func TestUDPProxyEcho(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {udpListener("default/eg/udp", port, "udp-echo"),
			tcpListener("default/eg/tcp", port, false, tcpProxyChain("tcproute/default/echo", "tcp-echo"))},
		resourcev3.ClusterType:  {edsCluster("udp-echo", nil), edsCluster("tcp-echo", nil)},
		resourcev3.EndpointType: {cla("udp-echo", tcptest.UDPEcho(t, "u")), cla("tcp-echo", tcptest.Echo(t, "t"))},
	})
	for _, client := range []string{"one", "two"} {
		c, err := net.Dial("udp", "127.0.0.1:"+itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		for i := range 3 {
			msg := client + itoa(uint32(i))
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != "u:"+msg {
				t.Fatalf("%s: got %q, %v", msg, buf[:n], err)
			}
		}
	}
	c := dialTCP(t, port)
	_ = c.CloseWrite()
	if got, _ := io.ReadAll(c); string(got) != "t:" {
		t.Errorf("tcp on the same port: got %q", got)
	}
}

// BenchmarkTCPProxyRatio interleaves direct and proxied round trips of
// 64 KiB through an echo backend (one connection each, kept open) and
// reports proxied/direct time as "ratio", and each path's MB/s; a new
// connection per batch measures connection setup too ("conn-ratio").
//
//	go test ./internal/proxy -run '^$' -bench TCPProxyRatio -benchtime 2000x
func BenchmarkTCPProxyRatio(b *testing.B) {
	h := newHarness(b)
	port := freePort(b)
	echo := tcptest.Echo(b, "e")
	h.pushAndWait(b, map[string][]types.Resource{
		resourcev3.ListenerType: {tcpListener("default/eg/tcp", port, false, tcpProxyChain("tcproute/default/echo", "echo"))},
		resourcev3.ClusterType:  {edsCluster("echo", nil)},
		resourcev3.EndpointType: {cla("echo", echo)},
	})
	proxied := "127.0.0.1:" + itoa(port)
	open := func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil { // "e:"
			b.Fatal(err)
		}
		return c
	}
	payload := make([]byte, 64<<10)
	back := make([]byte, len(payload))
	roundTrip := func(c net.Conn) {
		go func() { _, _ = c.Write(payload) }()
		if _, err := io.ReadFull(c, back); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 50
	dc, pc := open(echo), open(proxied)
	defer dc.Close()
	defer pc.Close()
	timeBatch := func(c net.Conn) time.Duration {
		start := time.Now()
		for range batch {
			roundTrip(c)
		}
		return time.Since(start)
	}
	timeConns := func(addr string) time.Duration {
		start := time.Now()
		for range 10 {
			c := open(addr)
			roundTrip(c)
			c.Close()
		}
		return time.Since(start)
	}
	timeBatch(dc)
	timeBatch(pc)
	b.ResetTimer()
	var td, tp, cd, cp time.Duration
	for done := 0; done < b.N; done += batch {
		td += timeBatch(dc)
		tp += timeBatch(pc)
		cd += timeConns(echo)
		cp += timeConns(proxied)
	}
	b.StopTimer()
	n := float64(max(b.N, batch))
	mb := n * float64(2*len(payload)) / 1e6
	b.ReportMetric(mb/td.Seconds(), "direct-MB/s")
	b.ReportMetric(mb/tp.Seconds(), "proxy-MB/s")
	b.ReportMetric(float64(tp)/float64(td), "ratio")
	b.ReportMetric(float64(cp)/float64(cd), "conn-ratio")
}

// A tcp_proxy listener that goes stops accepting at once; its open
// connections keep flowing through the drain time, then are closed.
func TestTCPProxyListenerDrain(t *testing.T) {
	h := newHarnessOpts(t, func(o *proxy.Options) { o.DrainTimeout = 2 * time.Second })
	port, other := freePort(t), freePort(t)
	echo := tcptest.Echo(t, "echo")
	res := func(ports ...uint32) map[string][]types.Resource {
		var ls []types.Resource
		for _, p := range ports {
			ls = append(ls, tcpListener("l"+itoa(p), p, false, tcpProxyChain("tcproute/default/echo", "echo")))
		}
		return map[string][]types.Resource{resourcev3.ListenerType: ls, resourcev3.ClusterType: {edsCluster("echo", nil)},
			resourcev3.EndpointType: {cla("echo", echo)}}
	}
	h.pushAndWait(t, res(port, other))
	c := dialTCP(t, port)
	buf := make([]byte, 16)
	if _, err := io.ReadFull(c, buf[:5]); err != nil || string(buf[:5]) != "echo:" {
		t.Fatalf("got %q, %v", buf[:5], err)
	}
	h.pushAndWait(t, res(other))
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(port), time.Second); err == nil {
		t.Error("a removed listener still accepts")
	}
	// The open connection still works right after the removal (the
	// drain time is long against a loopback round trip)...
	if _, err := io.WriteString(c, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil || buf[0] != 'x' {
		t.Errorf("draining connection: %q, %v", buf[:1], err)
	}
	// ...and is closed once the drain time is over.
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("the drained connection was not closed: %v", err)
	}
}

// TLS passthrough beside HTTPS on one listener (Envoy Gateway's shape for
// a TLS and an HTTPS listener on one port): the SNI picks an HTTPS chain,
// served by the HCM with the gateway's certificate, or a tcp_proxy chain,
// whose backend completes the handshake with its own.
func TestTLSPassthroughBesideHTTPS(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	ca := tlstest.NewCA(t)
	wwwChain, wwwKey := ca.Leaf(t, "www.test")
	https := listener("tmp", port, "rc-www", nil).DefaultFilterChain
	https.Name = "default/eg/https"
	https.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{"www.test"}}
	https.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
		TypedConfig: mustAny(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("default/www-cert")}, AlpnProtocols: []string{"h2", "http/1.1"}}})}}
	rc := simpleRoutes("up")
	rc.Name = "rc-www"
	rc.VirtualHosts[0].Routes[0].Action = directBody("from the gateway")
	h.pushAndWait(t, map[string][]types.Resource{
		resourcev3.ListenerType: {tcpListener("default/eg/https", port, true, https, tcpProxyChain("tlsroute/default/pass", "pass", "pass.test"))},
		resourcev3.RouteType:    {rc},
		resourcev3.ClusterType:  {edsCluster("pass", nil), edsCluster("up", nil)},
		resourcev3.EndpointType: {cla("pass", tcptest.TLSNamed(t, ca, "pass.test")), cla("up")},
		resourcev3.SecretType:   {certSecret("default/www-cert", wwwChain, wwwKey)},
	})
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+itoa(port), &tls.Config{RootCAs: ca.Pool(), ServerName: "pass.test"})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if line != "backend pass.test\n" {
		t.Errorf("passthrough: got %q", line)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "www.test"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://127.0.0.1:" + itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "from the gateway" || resp.ProtoMajor != 2 {
		t.Errorf("https: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
}
