// Package xdsclient is the built-in proxy's ADS client: one stream to the
// control plane, state of the world (sotw.go) or incremental (delta.go,
// the default, as Envoy runs under Portico), with the accepted config
// (State) they share. It knows the protocol (subscriptions, nonces,
// versions, ACKs and NACKs, warming, reconnection) and nothing of what the
// resources mean: a Handler compiles them, vets them, serves them and
// hears what was accepted or rejected.
//
// LDS and CDS are wildcard subscriptions; RDS, EDS and SDS names follow
// what the accepted listeners and clusters need (Resource.Needs). Each
// response is compiled and checked whole before it is ACKed; any error
// NACKs it with error_detail and the previous config keeps serving. A
// config is served once every resource it needs has arrived (Envoy's
// warming), or after Options.InitialFetchTimeout without them.
package xdsclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// Handler is what the client drives: the proxy's compilation and serving.
// The client calls it from one goroutine, one call at a time.
type Handler interface {
	// Compile compiles the resources of one response of a type (of a
	// delta response, those that changed). An error NACKs the response.
	Compile(typeURL string, res []*anypb.Any) ([]Resource, error)
	// Admit vets the type's resources as they will be once the response
	// is accepted (the proxy binds a new listener's address), before the
	// ACK. An error NACKs the response.
	Admit(typeURL string, all map[string]Resource) error
	// Serve builds and serves the runtime of an accepted state.
	Serve(s *State)
	// Report says what became of a response.
	Report(e Event)
}

// Event is what became of a response.
type Event struct {
	// Type is the response's type URL, Version its version.
	Type, Version string
	// Rejected is the NACK's error_detail, "" when it was accepted.
	Rejected string
	// Warnings, after an ACK, are the warnings of every accepted resource
	// (every type), what status pages show.
	Warnings []string
}

// Options configure the client.
type Options struct {
	// Address is the ADS server, host:port.
	Address string
	// TLS secures the connection (nil: plaintext).
	TLS *tls.Config
	// Dialer makes the connection instead of a TCP dial of Address.
	Dialer func(ctx context.Context, address string) (net.Conn, error)
	// NodeID and Cluster identify the proxy to the control plane.
	NodeID, Cluster string
	// SotW speaks state-of-the-world ADS instead of delta ADS.
	SotW bool
	// InitialFetchTimeout is how long an accepted config waits for the
	// resources it needs before it is served without them.
	InitialFetchTimeout time.Duration
	Logger              *slog.Logger
}

// adsWindow is the ADS connection's HTTP/2 flow-control window.
const adsWindow = 16 << 20

// Run keeps one ADS stream up, reconnecting with back-off, until ctx
// ends. The accepted state survives reconnects.
func Run(ctx context.Context, o Options, h Handler) error {
	conn, err := grpc.NewClient(target(o), dialOptions(o)...)
	if err != nil {
		return fmt.Errorf("proxy: ads client: %w", err)
	}
	defer conn.Close()
	c := &client{o: o, h: h, log: o.Logger, state: newState()}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		var err error
		if o.SotW {
			err = c.stream(ctx, conn)
		} else {
			err = c.streamDelta(ctx, conn)
		}
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("ads stream ended, reconnecting", "err", err)
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

// client is what both protocol variants share.
type client struct {
	o     Options
	h     Handler
	log   *slog.Logger
	state *State
}

// target is the gRPC target: the address, resolved by DNS, or a fixed
// name when Dialer makes the connection.
func target(o Options) string {
	if o.Dialer != nil {
		return "passthrough:///" + o.Address
	}
	return o.Address
}

func dialOptions(o Options) []grpc.DialOption {
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds),
		// One route configuration holds a gateway's every route: about
		// 700 KB for 1000 routes, 7 MB for 10000. gRPC's 4 MB default
		// would refuse the larger ones (Envoy sets no such limit), and
		// its 64 KB flow-control window would make a 700 KB response
		// wait for a dozen window updates from this side.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
		grpc.WithInitialWindowSize(adsWindow), grpc.WithInitialConnWindowSize(adsWindow)}
	if o.Dialer != nil {
		opts = append(opts, grpc.WithContextDialer(o.Dialer))
	}
	return opts
}

func (c *client) node() *corev3.Node {
	return &corev3.Node{Id: c.o.NodeID, Cluster: c.o.Cluster, UserAgentName: "portico-proxy"}
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

// accepted serves the state once nothing its subscriptions name is missing.
func (w *waiting) accepted(c *client, subs map[string][]string) {
	if !w.pending {
		w.pending, w.since = true, time.Now()
	}
	if len(c.state.missingOf(subs)) == 0 {
		w.serve(c)
	}
}

func (w *waiting) serve(c *client) {
	c.h.Serve(c.state)
	w.pending = false
}

// expire is Envoy's initial_fetch_timeout: once a config has waited that
// long for resources that never came, it is served without them.
func (w *waiting) expire(c *client) {
	if w.pending && time.Since(w.since) > c.o.InitialFetchTimeout {
		c.log.Warn("serving without missing resources after initial fetch timeout", "missing", c.state.Missing())
		w.serve(c)
	}
}

// warningsOf joins the per-type warnings in a fixed type order.
func warningsOf(byType map[string][]string) []string {
	var all []string
	for _, ty := range typeOrder {
		all = append(all, byType[ty]...)
	}
	return all
}

// rejected logs and reports a NACK; msg is its error_detail.
func (c *client) rejected(typeURL, version string, err error) string {
	msg := fmt.Sprintf("%s version %s rejected: %v", ShortType[typeURL], version, err)
	c.log.Error("NACK", "type", typeURL, "version", version, "err", err)
	c.h.Report(Event{Type: typeURL, Version: version, Rejected: msg})
	return msg
}

// logWarnings logs a response's warnings as it is accepted.
func (c *client) logWarnings(res []Resource) {
	for _, r := range res {
		for _, w := range r.Warnings {
			c.log.Warn("config accepted with a limitation", "detail", w)
		}
	}
}
