package listener

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/portico-gw/portico/internal/proxy/udpproxy"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// udpScheme prefixes the bind address of UDP listeners in Sockets.
const udpScheme = "udp://"

// compileUDP compiles a UDP listener: no filter chains, one udp_proxy
// listener filter (Envoy Gateway's UDPRoute shape).
func compileUDP(l *listenerv3.Listener, sa *corev3.SocketAddress) (*Config, []string, error) {
	if err := xdsconf.CheckFields("listener "+l.GetName(), l, "name", "address", "listener_filters", "access_log",
		"traffic_direction", "stat_prefix", "metadata", "udp_listener_config", "drain_type"); err != nil {
		return nil, nil, err
	}
	lfs := l.GetListenerFilters()
	if len(lfs) != 1 || lfs[0].GetTypedConfig().GetTypeUrl() != udpproxy.TypeURL {
		return nil, nil, fmt.Errorf("listener %s: a UDP listener needs exactly one udp_proxy listener filter", l.GetName())
	}
	u, err := udpproxy.Compile(lfs[0].GetTypedConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("listener %s: %v", l.GetName(), err)
	}
	var warnings []string
	if len(l.GetAccessLog()) > 0 {
		warnings = append(warnings, "listener "+l.GetName()+": listener-level access_log accepted but not written")
	}
	return &Config{name: l.GetName(), addr: net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))), udp: u},
		warnings, nil
}

// boundPacket is a UDP listener's socket and, once committed, its server.
type boundPacket struct {
	pc  net.PacketConn
	srv *udpproxy.Server
}

func (b *boundPacket) close() {
	if b.srv != nil {
		b.srv.Close()
		return
	}
	b.pc.Close()
}

// prepareUDP binds a UDP address not yet bound; s.mu is held.
func (s *Sockets) prepareUDP(a string) error {
	if s.udp == nil {
		s.udp = map[string]*boundPacket{}
	}
	if _, ok := s.udp[a]; ok {
		return nil
	}
	pc, err := net.ListenPacket("udp", strings.TrimPrefix(a, udpScheme))
	if err != nil {
		return fmt.Errorf("cannot bind listener address %s: %v", a, err)
	}
	s.udp[a] = &boundPacket{pc: pc}
	return nil
}

// commitUDP serves the UDP listeners of rts and closes the others; s.mu
// is held. A UDP listener has no drain: its sessions end with it.
func (s *Sockets) commitUDP(rts map[string]*Runtime) {
	for a, b := range s.udp {
		rt, ok := rts[a]
		if !ok {
			delete(s.udp, a)
			b.close()
			continue
		}
		urt := &udpproxy.Runtime{Config: rt.cfg.udp, Clusters: rt.clusters, Log: rt.log}
		if b.srv == nil {
			b.srv = udpproxy.NewServer(b.pc, urt, s.log)
		} else {
			b.srv.Update(urt)
		}
	}
}
