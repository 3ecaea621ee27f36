package xdsclient

import (
	"context"
	"fmt"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// sotwSession is a state-of-the-world stream's protocol state: what we
// asked for, the last nonce per type, and whether a complete config is
// waiting to be served.
type sotwSession struct {
	c        *client
	send     func(*discoveryv3.DiscoveryRequest) error
	subs     map[string][]string
	nonce    map[string]string
	warnings map[string][]string
	waiting
}

func (c *client) stream(ctx context.Context, conn *grpc.ClientConn) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return err
	}
	state := c.state
	s := &sotwSession{c: c, send: cli.Send, subs: state.subscriptions(), nonce: map[string]string{}, warnings: map[string][]string{}}
	first := true
	for _, t := range []string{TypeCDS, TypeLDS, TypeRDS, TypeEDS, TypeSDS} {
		if t != TypeCDS && t != TypeLDS && len(s.subs[t]) == 0 {
			continue
		}
		req := &discoveryv3.DiscoveryRequest{TypeUrl: t, ResourceNames: s.subs[t], VersionInfo: state.versions[t]}
		if first {
			req.Node, first = c.node(), false
		}
		if err := s.send(req); err != nil {
			return err
		}
	}
	return pump(ctx, sctx, cli.Recv, s.handle, func() { s.expire(c) })
}

// handle compiles a response, ACKs or NACKs it, updates subscriptions and
// serves the config once it is complete.
func (s *sotwSession) handle(r *discoveryv3.DiscoveryResponse) error {
	t := r.GetTypeUrl()
	c, state := s.c, s.c.state
	s.nonce[t] = r.GetNonce()
	if _, ok := ShortType[t]; !ok {
		return s.nack(r, fmt.Errorf("type %s is not supported", t))
	}
	res, err := c.h.Compile(t, r.GetResources())
	if err == nil && t == TypeLDS {
		err = c.h.Admit(t, byName(res))
	}
	if err != nil {
		return s.nack(r, err)
	}
	state.apply(t, res, s.subs)
	state.versions[t] = r.GetVersionInfo()
	ack := &discoveryv3.DiscoveryRequest{TypeUrl: t, VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce(), ResourceNames: s.subs[t]}
	if t == TypeLDS || t == TypeCDS {
		ack.ResourceNames = nil
	}
	if err := s.send(ack); err != nil {
		return err
	}
	c.logWarnings(res)
	// Warnings are kept per type so a CDS update does not hide the
	// listener's.
	s.warnings[t] = nil
	for _, r := range res {
		s.warnings[t] = append(s.warnings[t], r.Warnings...)
	}
	c.h.Report(Event{Type: t, Version: r.GetVersionInfo(), Warnings: warningsOf(s.warnings)})
	// New LDS/CDS may reference other RDS/EDS names; only they can. (With
	// 1000 clusters, recomputing the names after every response was a
	// good part of handling one.)
	if t == TypeLDS || t == TypeCDS {
		subs := state.subscriptions()
		for _, st := range dependent {
			if !slices.Equal(subs[st], s.subs[st]) {
				s.subs[st] = subs[st]
				state.prune(s.subs)
				req := &discoveryv3.DiscoveryRequest{TypeUrl: st, ResourceNames: subs[st], VersionInfo: state.versions[st], ResponseNonce: s.nonce[st]}
				if err := s.send(req); err != nil {
					return err
				}
			}
		}
	}
	s.accepted(c, s.subs)
	return nil
}

func (s *sotwSession) nack(r *discoveryv3.DiscoveryResponse, err error) error {
	t := r.GetTypeUrl()
	msg := s.c.rejected(t, r.GetVersionInfo(), err)
	req := &discoveryv3.DiscoveryRequest{TypeUrl: t, VersionInfo: s.c.state.versions[t], ResponseNonce: r.GetNonce(),
		ResourceNames: s.subs[t], ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: msg}}
	if t == TypeLDS || t == TypeCDS {
		req.ResourceNames = nil
	}
	return s.send(req)
}

// byName indexes a response's resources.
func byName(res []Resource) map[string]Resource {
	m := make(map[string]Resource, len(res))
	for _, r := range res {
		m[r.Name] = r
	}
	return m
}
