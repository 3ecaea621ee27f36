// Package server is Portico's xDS server: a go-control-plane snapshot cache
// with one snapshot per proxy fleet, served over SotW and Delta ADS, plus
// the ACK/NACK bookkeeping that lets the runtime report what each proxy
// really accepted.
//
// A proxy's node.cluster names its fleet ("<namespace>/<gateway>", or the
// GatewayClass name when gateways are merged); node.id only identifies the
// proxy instance. This is how Envoy Gateway's proxies are told apart too
// (--service-cluster is the infra name), and it lets several replicas of
// one fleet share a snapshot.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	sotwv3 "github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// Options configure a Server.
type Options struct {
	// Logger receives the server's logs (nil: slog.Default()).
	Logger *slog.Logger
	// OnNACK, when set, is called for every NACK (fleet, detail); for metrics.
	OnNACK func(fleet string, n NACK)
}

// Server holds the snapshots and serves them.
type Server struct {
	log     *slog.Logger
	cache   cachev3.SnapshotCache
	tracker *tracker

	mu       sync.Mutex
	versions map[string]fleetVersion
	// encodings are each fleet's latest resource encodings (marshal.go).
	encodings map[string]encodings
	changed   chan struct{}
}

type fleetVersion struct {
	generation int64
	hash       string
	types      map[resourcev3.Type]typeVersion
}

// typeVersion is one type's content digest and the fleet version that
// last changed it.
type typeVersion struct {
	hash, version string
}

// fleetHash makes the cache key of a proxy its fleet (node.cluster).
type fleetHash struct{}

func (fleetHash) ID(n *corev3.Node) string { return n.GetCluster() }

// New builds a server; nothing listens until Serve.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{
		log:       o.Logger,
		cache:     cachev3.NewSnapshotCache(true, fleetHash{}, cpLogger{o.Logger}),
		versions:  map[string]fleetVersion{},
		encodings: map[string]encodings{},
		changed:   make(chan struct{}, 1),
	}
	s.tracker = newTracker(s.signal, o.OnNACK)
	return s
}

// signal wakes whoever waits on Changed, coalescing bursts into one wake-up.
func (s *Server) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Changed receives a value after proxies connect, disconnect, are sent a
// response or answer one. Bursts are coalesced; read Proxies for the state.
func (s *Server) Changed() <-chan struct{} { return s.changed }

// Proxies returns every identified proxy's state.
func (s *Server) Proxies() []Proxy { return s.tracker.proxies() }

// Serve serves ADS (SotW and Delta) on l until ctx ends.
//
// With tlsConfig (certs.ServerConfig: mutual TLS, client certificates
// signed by the CA required), a client that does not complete the
// handshake never reaches the xDS service: no stream is opened for it and
// nothing is sent, Secrets included. A nil tlsConfig serves plaintext,
// which is for in-memory listeners (proxies inside this process) and tests
// only: on a socket any local process could read every private key.
func (s *Server) Serve(ctx context.Context, l net.Listener, tlsConfig *tls.Config) error {
	xds := serverv3.NewServer(ctx, s.cache, s.callbacks(), sotwv3.WithLogger(cpLogger{s.log}))
	opts := []grpc.ServerOption{
		// Envoy's bootstrap pings the xDS connection every 30s; gRPC's
		// default policy (one ping per 5 min) would answer that with
		// GOAWAY too_many_pings and drop every Envoy periodically.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 15 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
	}
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)),
			// A client that connects and never finishes its handshake
			// gives its connection up after this long.
			grpc.ConnectionTimeout(10*time.Second))
	}
	g := grpc.NewServer(opts...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, xds)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			// Stop rather than GracefulStop: ADS streams never end on
			// their own, so a graceful stop would wait forever.
			g.Stop()
		case <-done:
		}
	}()
	err := g.Serve(l)
	if ctx.Err() != nil || errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// ErrInconsistent wraps a snapshot's Consistent() error.
var ErrInconsistent = errors.New("inconsistent snapshot")

// SetResult says what SetSnapshot did.
type SetResult struct {
	// Version is the fleet's version after the call.
	Version string
	// Changed is false when the resources equal the serving ones (no push).
	Changed bool
}

// SetSnapshot makes res the fleet's configuration under a new version,
// unless it equals the one being served. An inconsistent snapshot (a
// listener naming a missing route configuration, a cluster missing its
// endpoints) is refused and the previous one keeps serving.
//
// Versions are "<generation>-<content hash>": the generation orders them
// (and makes ACK tracking simple), the hash makes a restarted control plane
// never reuse a version a proxy already holds with other content. Each
// type keeps the version of the generation that last changed it, so a SotW
// proxy is sent only the types that changed (a new route is no reason to
// resend every cluster); the newest type version is the fleet's.
func (s *Server) SetSnapshot(ctx context.Context, fleet string, res map[resourcev3.Type][]types.Resource) (SetResult, error) {
	s.mu.Lock()
	prev := s.encodings[fleet]
	s.mu.Unlock()
	enc, known, err := marshalAll(res, prev)
	if err != nil {
		return SetResult{}, err
	}
	perType, hash := typeHashes(enc)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.encodings[fleet] = known
	cur := s.versions[fleet]
	if cur.hash == hash {
		return SetResult{Version: cur.version()}, nil
	}
	next := fleetVersion{generation: cur.generation + 1, hash: hash, types: map[resourcev3.Type]typeVersion{}}
	// Consistent() reads references inside the resources, which the
	// pre-marshalled copies do not have, so it checks the originals.
	check, err := cachev3.NewSnapshot(next.version(), res)
	if err != nil {
		return SetResult{Version: cur.version()}, err
	}
	if err := check.Consistent(); err != nil {
		return SetResult{Version: cur.version()}, fmt.Errorf("%w: %v", ErrInconsistent, err)
	}
	snap := &cachev3.Snapshot{VersionMap: versionMap(enc)}
	for typ, list := range enc {
		tv := cur.types[typ]
		if tv.hash != perType[typ] || tv.version == "" {
			tv = typeVersion{hash: perType[typ], version: next.version()}
		}
		next.types[typ] = tv
		items := make([]types.Resource, len(list))
		for i, e := range list {
			items[i] = e.copy
		}
		snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(tv.version, items)
	}
	if err := s.cache.SetSnapshot(ctx, fleet, snap); err != nil {
		return SetResult{Version: cur.version()}, err
	}
	s.versions[fleet] = next
	return SetResult{Version: next.version(), Changed: true}, nil
}

// RemoveFleet forgets a fleet's snapshot (its Gateway is gone). Its proxies
// keep their last configuration until they are stopped.
func (s *Server) RemoveFleet(fleet string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache.ClearSnapshot(fleet)
	delete(s.versions, fleet)
	delete(s.encodings, fleet)
}

// Version returns the version a fleet is served ("" when none).
func (s *Server) Version(fleet string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.versions[fleet]; ok {
		return v.version()
	}
	return ""
}

func (v fleetVersion) version() string {
	if v.generation == 0 {
		return ""
	}
	return strconv.FormatInt(v.generation, 10) + "-" + v.hash
}

// heldVersion is the type's current version when a resuming delta request
// holds exactly the fleet's current resources of that type (all of them
// for a wildcard subscription, the named ones otherwise); "" if not. The
// server then sends nothing for the type, yet the proxy serves it.
func (s *Server) heldVersion(fleet string, req *discoveryv3.DeltaDiscoveryRequest) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.versions[fleet]
	if !ok {
		return ""
	}
	snap, err := s.cache.GetSnapshot(fleet)
	if err != nil {
		return ""
	}
	// The delta version map the snapshot was given (versionMap).
	typ := req.GetTypeUrl()
	current := snap.GetVersionMap(typ)
	held := req.GetInitialResourceVersions()
	names := req.GetResourceNamesSubscribe()
	if len(names) == 0 || slices.Contains(names, "*") {
		if !maps.Equal(held, current) {
			return ""
		}
	} else {
		for _, n := range names {
			if v, ok := current[n]; ok && held[n] != v {
				return ""
			}
		}
	}
	return cur.types[typ].version
}

func (s *Server) callbacks() serverv3.Callbacks {
	t := s.tracker
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(_ context.Context, id int64, _ string) error {
			t.open(id, "sotw")
			return nil
		},
		StreamClosedFunc: func(id int64, _ *corev3.Node) { t.close(id) },
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			rejected := t.request(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(),
				req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
			if rejected != "" {
				s.log.Warn("proxy rejected configuration", "fleet", req.GetNode().GetCluster(),
					"node", req.GetNode().GetId(), "type", req.GetTypeUrl(), "version", rejected,
					"detail", req.GetErrorDetail().GetMessage())
				// A SotW NACK quotes the last accepted version, which the
				// cache would answer with the rejected snapshot again, in a
				// tight loop. Quoting the rejected version instead parks
				// the watch until a new snapshot is set.
				req.VersionInfo = rejected
			}
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			t.sent(id, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
		},
		DeltaStreamOpenFunc: func(_ context.Context, id int64, _ string) error {
			t.open(id, "delta")
			return nil
		},
		DeltaStreamClosedFunc: func(id int64, _ *corev3.Node) { t.close(id) },
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			// The Delta server restores req.Node only after this callback,
			// so later requests carry none: the tracker remembers it.
			rejected := t.request(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(),
				req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
			node := t.node(id)
			if req.GetResponseNonce() == "" && len(req.GetInitialResourceVersions()) > 0 {
				if v := s.heldVersion(node.GetCluster(), req); v != "" {
					t.claim(id, req.GetTypeUrl(), v)
				}
			}
			if rejected != "" {
				s.log.Warn("proxy rejected configuration", "fleet", node.GetCluster(),
					"node", node.GetId(), "type", req.GetTypeUrl(), "version", rejected,
					"detail", req.GetErrorDetail().GetMessage())
			}
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			t.sent(id, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
		},
	}
}

// cpLogger adapts go-control-plane's logger to slog. Its Info messages are
// per-request chatter, so they go to Debug.
type cpLogger struct{ l *slog.Logger }

func (c cpLogger) Debugf(f string, a ...any) { c.l.Debug(fmt.Sprintf(f, a...)) }
func (c cpLogger) Infof(f string, a ...any)  { c.l.Debug(fmt.Sprintf(f, a...)) }
func (c cpLogger) Warnf(f string, a ...any)  { c.l.Warn(fmt.Sprintf(f, a...)) }
func (c cpLogger) Errorf(f string, a ...any) { c.l.Error(fmt.Sprintf(f, a...)) }
