package proxy

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// adsSession is the per-stream protocol state: what we asked for, the last
// nonce per type, and whether a complete config is waiting to be served.
type adsSession struct {
	p        *Proxy
	state    *xdsState
	send     func(*discoveryv3.DiscoveryRequest) error
	subs     map[string][]string
	nonce    map[string]string
	warnings map[string][]string
	waiting
}

// adsWindow is the ADS connection's HTTP/2 flow-control window.
const adsWindow = 16 << 20

// runADS keeps one ADS stream up, reconnecting with back-off. The accepted
// state survives reconnects, so a control plane restart never empties the
// proxy.
func (p *Proxy) runADS(ctx context.Context) error {
	conn, err := grpc.NewClient(p.xdsTarget(), p.xdsDialOptions()...)
	if err != nil {
		return fmt.Errorf("proxy: ads client: %w", err)
	}
	defer conn.Close()
	state := newState()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		var err error
		if p.opts.SotW {
			err = p.stream(ctx, conn, state)
		} else {
			err = p.streamDelta(ctx, conn, state)
		}
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("ads stream ended, reconnecting", "err", err)
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

// xdsTarget is the gRPC target: the address, resolved by DNS, or a fixed
// name when XDSDialer makes the connection.
func (p *Proxy) xdsTarget() string {
	if p.opts.XDSDialer != nil {
		return "passthrough:///" + p.opts.XDSAddress
	}
	return p.opts.XDSAddress
}

func (p *Proxy) xdsDialOptions() []grpc.DialOption {
	creds := insecure.NewCredentials()
	if p.opts.XDSTLS != nil {
		creds = credentials.NewTLS(p.opts.XDSTLS)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds),
		// One route configuration holds a gateway's every route: about
		// 700 KB for 1000 routes, 7 MB for 10000. gRPC's 4 MB default
		// would refuse the larger ones (Envoy sets no such limit), and
		// its 64 KB flow-control window would make a 700 KB response
		// wait for a dozen window updates from this side.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
		grpc.WithInitialWindowSize(adsWindow), grpc.WithInitialConnWindowSize(adsWindow)}
	if p.opts.XDSDialer != nil {
		opts = append(opts, grpc.WithContextDialer(p.opts.XDSDialer))
	}
	return opts
}

func (p *Proxy) node() *corev3.Node {
	return &corev3.Node{Id: p.opts.NodeID, Cluster: p.opts.Cluster, UserAgentName: "portico-proxy"}
}

func (p *Proxy) stream(ctx context.Context, conn *grpc.ClientConn, state *xdsState) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return err
	}
	s := &adsSession{p: p, state: state, send: cli.Send, subs: state.subscriptions(), nonce: map[string]string{}, warnings: map[string][]string{}}
	first := true
	for _, t := range []string{typeCDS, typeLDS, typeRDS, typeEDS, typeSDS} {
		if t != typeCDS && t != typeLDS && len(s.subs[t]) == 0 {
			continue
		}
		req := &discoveryv3.DiscoveryRequest{TypeUrl: t, ResourceNames: s.subs[t], VersionInfo: state.versions[t]}
		if first {
			req.Node, first = p.node(), false
		}
		if err := s.send(req); err != nil {
			return err
		}
	}
	return pump(ctx, sctx, cli.Recv, s.handle, func() { s.expire(p, state) })
}

// pump feeds a stream's responses to handle, one at a time, and calls tick
// every 250 ms, until the stream or ctx ends.
func pump[R any](ctx, sctx context.Context, recv func() (R, error), handle func(R) error, tick func()) error {
	type msg struct {
		r   R
		err error
	}
	ch := make(chan msg, 1)
	go func() {
		for {
			r, err := recv()
			select {
			case ch <- msg{r, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			tick()
		case m := <-ch:
			if m.err != nil {
				return m.err
			}
			if err := handle(m.r); err != nil {
				return err
			}
		}
	}
}

// waiting is an accepted config not served yet because resources it
// references have not arrived; both ADS sessions keep one.
type waiting struct {
	pending bool      // accepted state not yet served
	since   time.Time // when pending started
}

// accepted serves state once nothing its subscriptions name is missing.
func (w *waiting) accepted(p *Proxy, state *xdsState, subs map[string][]string) {
	if !w.pending {
		w.pending, w.since = true, time.Now()
	}
	if len(state.missingOf(subs)) == 0 {
		w.serve(p, state)
	}
}

// serve swaps in the runtime built from the accepted state.
func (w *waiting) serve(p *Proxy, state *xdsState) {
	p.swapIn(state)
	w.pending = false
}

// expire is Envoy's initial_fetch_timeout: once a config has waited that
// long for resources that never came, it is served without them.
func (w *waiting) expire(p *Proxy, state *xdsState) {
	if w.pending && time.Since(w.since) > p.opts.InitialFetchTimeout {
		p.log.Warn("serving without missing resources after initial fetch timeout", "missing", state.missing())
		w.serve(p, state)
	}
}

// warningsOf joins the per-type warnings in a fixed type order.
func warningsOf(byType map[string][]string) []string {
	var all []string
	for _, ty := range []string{typeLDS, typeRDS, typeCDS, typeEDS, typeSDS} {
		all = append(all, byType[ty]...)
	}
	return all
}

// handle compiles a response, ACKs or NACKs it, updates subscriptions and
// serves the config once it is complete.
func (s *adsSession) handle(r *discoveryv3.DiscoveryResponse) error {
	t := r.GetTypeUrl()
	p := s.p
	s.nonce[t] = r.GetNonce()
	if _, ok := shortType[t]; !ok {
		return s.nack(r, fmt.Errorf("type %s is not supported", t))
	}
	c, err := compileResources(t, r.GetResources(), p.buildContext(), s.state.memoFor(t))
	if err == nil && t == typeLDS {
		err = s.bind(c)
	}
	if err != nil {
		return s.nack(r, err)
	}
	s.state.apply(t, c, s.subs)
	s.state.versions[t] = r.GetVersionInfo()
	ack := &discoveryv3.DiscoveryRequest{TypeUrl: t, VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce(), ResourceNames: s.subs[t]}
	if t == typeLDS || t == typeCDS {
		ack.ResourceNames = nil
	}
	if err := s.send(ack); err != nil {
		return err
	}
	p.update(func(st *Status) { st.Versions[shortType[t]] = r.GetVersionInfo() })
	for _, w := range c.warnings {
		p.log.Warn("config accepted with a limitation", "detail", w)
	}
	// Warnings are kept per type so a CDS update does not hide the
	// listener's.
	s.warnings[t] = c.warnings
	p.update(func(st *Status) { st.Warnings = warningsOf(s.warnings) })
	// New LDS/CDS may reference other RDS/EDS names; only they can. (With
	// 1000 clusters, recomputing the names after every response was a
	// good part of handling one.)
	if t == typeLDS || t == typeCDS {
		subs := s.state.subscriptions()
		for _, st := range dependent {
			if !slices.Equal(subs[st], s.subs[st]) {
				s.subs[st] = subs[st]
				s.state.prune(s.subs)
				req := &discoveryv3.DiscoveryRequest{TypeUrl: st, ResourceNames: subs[st], VersionInfo: s.state.versions[st], ResponseNonce: s.nonce[st]}
				if err := s.send(req); err != nil {
					return err
				}
			}
		}
	}
	s.accepted(s.p, s.state, s.subs)
	return nil
}

// bind opens the sockets of a new LDS before it is ACKed, so a port that
// cannot be bound NACKs the update as Envoy does.
func (s *adsSession) bind(c *compiled) error { return s.p.bind(c) }

func (p *Proxy) bind(c *compiled) error {
	byAddr := map[string]string{}
	var addrs []string
	for name, l := range c.listeners {
		if other, dup := byAddr[l.addr]; dup {
			return fmt.Errorf("listeners %s and %s share address %s", other, name, l.addr)
		}
		byAddr[l.addr] = name
		addrs = append(addrs, l.addr)
	}
	return p.socks.prepare(addrs)
}

func (s *adsSession) nack(r *discoveryv3.DiscoveryResponse, err error) error {
	p := s.p
	t := r.GetTypeUrl()
	msg := fmt.Sprintf("%s version %s rejected: %v", shortType[t], r.GetVersionInfo(), err)
	p.log.Error("NACK", "type", t, "version", r.GetVersionInfo(), "err", err)
	p.update(func(st *Status) { st.LastNACK, st.NACKs = msg, st.NACKs+1 })
	req := &discoveryv3.DiscoveryRequest{TypeUrl: t, VersionInfo: s.state.versions[t], ResponseNonce: r.GetNonce(),
		ResourceNames: s.subs[t], ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: msg}}
	if t == typeLDS || t == typeCDS {
		req.ResourceNames = nil
	}
	return s.send(req)
}

// swapIn builds the runtime of an accepted state and serves it.
func (p *Proxy) swapIn(state *xdsState) {
	rts, clusters, used, problems := state.runtime(p.pool, p.alog)
	p.clusters.Store(&clusters)
	for _, pr := range problems {
		p.log.Warn("serving with a missing dependency", "detail", pr)
	}
	p.socks.commit(rts)
	p.pool.retain(used)
	p.ready.Store(true)
	p.update(func(st *Status) {
		st.Applied++
		st.Ready = true
		st.Listening = p.socks.addrs()
	})
	p.log.Info("config applied", "versions", versionsString(state.versions))
}

func versionsString(v map[string]string) string {
	var b []string
	for _, t := range []string{typeLDS, typeRDS, typeCDS, typeEDS, typeSDS} {
		b = append(b, shortType[t]+"="+v[t])
	}
	return strings.Join(b, " ")
}
