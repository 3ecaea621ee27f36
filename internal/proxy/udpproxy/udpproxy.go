// Package udpproxy is the built-in proxy's envoy.filters.udp_listener.udp_proxy:
// datagrams from each client address form a session with one host of the
// route's cluster (picked when the session starts), replies go back to the
// client from the listener's socket, and a session idle for idle_timeout
// ends with one access log line.
package udpproxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/accesslog"
	"github.com/portico-gw/portico/internal/proxy/cluster"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
	"github.com/portico-gw/portico/internal/proxy/xdsconf"
)

// TypeURL is udp_proxy's config type.
const TypeURL = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig"

const (
	routeType = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route"
	// defaultIdleTimeout is Envoy's udp_proxy idle_timeout default.
	defaultIdleTimeout = time.Minute
	// maxDatagram is the largest UDP payload.
	maxDatagram = 64 << 10
)

// Config is a compiled UdpProxyConfig.
type Config struct {
	cluster     string
	idleTimeout time.Duration
	logs        []*accesslog.Spec
}

// Compile compiles a UdpProxyConfig: one cluster, given directly or as the
// matcher's on_no_match route (Envoy Gateway's shape). Matchers with
// rules, hashing, tunneling and session filters are refused.
func Compile(a *anypb.Any) (*Config, error) {
	var p udpproxyv3.UdpProxyConfig
	if err := a.UnmarshalTo(&p); err != nil {
		return nil, err
	}
	if err := xdsconf.CheckFields("udp_proxy", &p, "stat_prefix", "cluster", "matcher", "idle_timeout", "access_log"); err != nil {
		return nil, err
	}
	c := &Config{cluster: p.GetCluster(), idleTimeout: defaultIdleTimeout}
	if m := p.GetMatcher(); m != nil {
		name, err := noMatchCluster(m)
		if err != nil {
			return nil, err
		}
		c.cluster = name
	}
	if c.cluster == "" {
		return nil, fmt.Errorf("udp_proxy: no cluster")
	}
	if p.IdleTimeout != nil {
		c.idleTimeout = p.GetIdleTimeout().AsDuration()
	}
	if c.idleTimeout <= 0 {
		c.idleTimeout = defaultIdleTimeout
	}
	logs, err := accesslog.Compile(p.GetAccessLog())
	if err != nil {
		return nil, fmt.Errorf("udp_proxy: %v", err)
	}
	c.logs = logs
	return c, nil
}

// noMatchCluster is the cluster of a matcher that only has on_no_match.
func noMatchCluster(m *matcherv3.Matcher) (string, error) {
	if m.GetMatcherType() != nil {
		return "", fmt.Errorf("udp_proxy: matcher rules are not supported, only on_no_match")
	}
	act := m.GetOnNoMatch().GetAction()
	if act == nil || act.GetTypedConfig().GetTypeUrl() != routeType {
		return "", fmt.Errorf("udp_proxy: on_no_match must be a route action")
	}
	var r udpproxyv3.Route
	if err := act.GetTypedConfig().UnmarshalTo(&r); err != nil {
		return "", err
	}
	return r.GetCluster(), nil
}

// Server serves one UDP socket. Its config is swapped atomically; sessions
// keep the host they started with.
type Server struct {
	pc  net.PacketConn
	log *slog.Logger
	cur atomic.Pointer[Runtime]

	mu       sync.Mutex
	sessions map[string]*session
	wg       sync.WaitGroup
}

// Runtime is what the socket serves: the config, its clusters and logger.
type Runtime struct {
	Config   *Config
	Clusters cluster.Set
	Log      *accesslog.Logger
}

// NewServer serves pc with rt until Close.
func NewServer(pc net.PacketConn, rt *Runtime, log *slog.Logger) *Server {
	s := &Server{pc: pc, log: log, sessions: map[string]*session{}}
	s.cur.Store(rt)
	s.wg.Add(1)
	go s.serve()
	return s
}

// Update swaps the config new sessions use.
func (s *Server) Update(rt *Runtime) { s.cur.Store(rt) }

// Close stops reading and ends every session.
func (s *Server) Close() {
	s.pc.Close()
	s.mu.Lock()
	for _, ss := range s.sessions {
		ss.up.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ss := s.session(from)
		if ss == nil {
			continue // no host: the datagram is dropped, as in Envoy
		}
		ss.touch()
		ss.info.BytesReceived.Add(int64(n))
		if _, err := ss.up.Write(buf[:n]); err != nil {
			s.log.Debug("udp_proxy: upstream write failed", "upstream", ss.info.UpstreamHost, "err", err)
		}
	}
}

// session is one client's flow to one upstream host.
type session struct {
	client net.Addr
	up     net.Conn
	info   *streaminfo.StreamInfo
	last   atomic.Int64 // unix nanoseconds of the last datagram either way
	sent   atomic.Int64
}

func (ss *session) touch() { ss.last.Store(time.Now().UnixNano()) }

// session returns the client's session, starting one (and its upstream
// socket) for a new client; nil when the cluster has no host.
func (s *Server) session(from net.Addr) *session {
	key := from.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[key]; ss != nil {
		return ss
	}
	rt := s.cur.Load()
	info := &streaminfo.StreamInfo{Start: time.Now(), UpstreamCluster: rt.Config.cluster,
		Connection: &streaminfo.Connection{RemoteAddr: key, LocalAddr: s.pc.LocalAddr().String()}}
	var h *cluster.Host
	if c := rt.Clusters[rt.Config.cluster]; c != nil {
		h = c.Pick()
	}
	if h == nil {
		info.ResponseFlags = "UH"
		rt.Log.Log(info, rt.Config.logs)
		return nil
	}
	info.UpstreamHost = h.Addr()
	up, err := h.DialPacket()
	if err != nil {
		info.ResponseFlags = "UF"
		rt.Log.Log(info, rt.Config.logs)
		return nil
	}
	ss := &session{client: from, up: up, info: info}
	ss.touch()
	s.sessions[key] = ss
	s.wg.Add(1)
	go s.relay(ss, rt)
	return ss
}

// relay sends the upstream's datagrams to the client until the session is
// idle for the idle timeout (or the server closes), then ends it.
func (s *Server) relay(ss *session, rt *Runtime) {
	defer s.wg.Done()
	buf := make([]byte, maxDatagram)
	idle := rt.Config.idleTimeout
	for {
		_ = ss.up.SetReadDeadline(time.Unix(0, ss.last.Load()).Add(idle))
		n, err := ss.up.Read(buf)
		if n > 0 {
			ss.touch()
			if _, werr := s.pc.WriteTo(buf[:n], ss.client); werr == nil {
				ss.sent.Add(int64(n))
			}
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, ss.last.Load())) < idle {
			continue // a datagram from the client moved the deadline
		}
		if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, net.ErrClosed) {
			continue // e.g. ICMP port unreachable: Envoy keeps the session
		}
		break
	}
	s.mu.Lock()
	delete(s.sessions, ss.client.String())
	s.mu.Unlock()
	ss.up.Close()
	ss.info.BytesSent = ss.sent.Load()
	rt.Log.Log(ss.info, rt.Config.logs)
}
