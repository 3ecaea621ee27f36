package xdsclient

import (
	"context"
	"fmt"
	"maps"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
)

// Incremental (delta) ADS, the proxy's default, as Envoy runs under
// Portico (its bootstrap says DELTA_GRPC): the server sends only the
// resources that changed and the names of those removed, so a new route
// among 1000 costs one cluster and one load assignment rather than all of
// them. RDS, EDS and SDS names are subscribed and unsubscribed as the
// accepted listeners and clusters change. Each response is compiled and
// checked whole before it is ACKed, exactly as SotW responses are, and a
// NACK leaves the state untouched.

// deltaSession is one delta stream's protocol state.
type deltaSession struct {
	c        *client
	send     func(*discoveryv3.DeltaDiscoveryRequest) error
	subs     map[string][]string            // RDS, EDS and SDS names subscribed
	warnings map[string]map[string][]string // by type, then resource
	waiting
}

func (c *client) streamDelta(ctx context.Context, conn *grpc.ClientConn) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(sctx)
	if err != nil {
		return err
	}
	state := c.state
	s := &deltaSession{c: c, send: cli.Send, subs: state.subscriptions(), warnings: map[string]map[string][]string{}}
	first := true
	for _, t := range []string{TypeCDS, TypeLDS, TypeRDS, TypeEDS, TypeSDS} {
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, InitialResourceVersions: state.resourceVersions(t)}
		if t == TypeCDS || t == TypeLDS {
			req.ResourceNamesSubscribe = []string{"*"}
		} else if len(s.subs[t]) == 0 {
			continue
		} else {
			req.ResourceNamesSubscribe = s.subs[t]
		}
		if first {
			req.Node, first = c.node(), false
		}
		if err := s.send(req); err != nil {
			return err
		}
	}
	return pump(ctx, sctx, cli.Recv, s.handle, func() { s.expire(c) })
}

// handle compiles the changed resources, merges them (and the removals)
// into a copy of the type's state, checks the whole, then ACKs and applies
// it, or NACKs it.
func (s *deltaSession) handle(r *discoveryv3.DeltaDiscoveryResponse) error {
	t := r.GetTypeUrl()
	c, state := s.c, s.c.state
	if _, ok := ShortType[t]; !ok {
		return s.nack(r, fmt.Errorf("type %s is not supported", t))
	}
	anys := make([]*anypb.Any, 0, len(r.GetResources()))
	for _, res := range r.GetResources() {
		if res.GetResource() == nil {
			return s.nack(r, fmt.Errorf("resource %q has no body", res.GetName()))
		}
		anys = append(anys, res.GetResource())
	}
	res, err := c.h.Compile(t, anys)
	if err == nil {
		err = sameNames(r.GetResources(), res)
	}
	var whole map[string]Resource
	if err == nil {
		whole = state.merged(t, res, r.GetRemovedResources())
		if t == TypeLDS {
			err = c.h.Admit(t, whole)
		}
	}
	if err != nil {
		return s.nack(r, err)
	}
	state.replace(t, whole, s.subs)
	state.versions[t] = r.GetSystemVersionInfo()
	state.noteVersions(t, versionsOf(r.GetResources()), r.GetRemovedResources())
	if err := s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: r.GetNonce()}); err != nil {
		return err
	}
	c.logWarnings(res)
	s.noteWarnings(t, res, r.GetRemovedResources())
	c.h.Report(Event{Type: t, Version: r.GetSystemVersionInfo(), Warnings: s.allWarnings()})
	if t == TypeLDS || t == TypeCDS {
		if err := s.resubscribe(); err != nil {
			return err
		}
	}
	s.accepted(c, s.subs)
	return nil
}

// sameNames checks that each resource is named as its wrapper says:
// removals and resumes go by the wrapper's name.
func sameNames(wrapped []*discoveryv3.Resource, res []Resource) error {
	names := make(map[string]bool, len(res))
	for _, r := range res {
		names[r.Name] = true
	}
	for _, w := range wrapped {
		if !names[w.GetName()] {
			return fmt.Errorf("resource named %q in the response carries another name", w.GetName())
		}
	}
	return nil
}

func versionsOf(rs []*discoveryv3.Resource) map[string]string {
	m := make(map[string]string, len(rs))
	for _, r := range rs {
		m[r.GetName()] = r.GetVersion()
	}
	return m
}

// resubscribe follows the names the listeners and clusters now reference.
func (s *deltaSession) resubscribe() error {
	state := s.c.state
	subs := state.subscriptions()
	for _, t := range dependent {
		if slices.Equal(subs[t], s.subs[t]) {
			continue
		}
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t}
		for _, n := range subs[t] {
			if _, ok := slices.BinarySearch(s.subs[t], n); !ok {
				req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, n)
			}
		}
		for _, n := range s.subs[t] {
			if _, ok := slices.BinarySearch(subs[t], n); !ok {
				req.ResourceNamesUnsubscribe = append(req.ResourceNamesUnsubscribe, n)
			}
		}
		s.subs[t] = subs[t]
		state.prune(s.subs)
		if err := s.send(req); err != nil {
			return err
		}
	}
	return nil
}

func (s *deltaSession) nack(r *discoveryv3.DeltaDiscoveryResponse, err error) error {
	t := r.GetTypeUrl()
	msg := s.c.rejected(t, r.GetSystemVersionInfo(), err)
	return s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: r.GetNonce(),
		ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: msg}})
}

// noteWarnings keeps each resource's warnings until it changes or goes.
func (s *deltaSession) noteWarnings(t string, res []Resource, removed []string) {
	m := s.warnings[t]
	if m == nil {
		m = map[string][]string{}
		s.warnings[t] = m
	}
	for _, n := range removed {
		delete(m, n)
	}
	for _, r := range res {
		delete(m, r.Name)
		if len(r.Warnings) > 0 {
			m[r.Name] = r.Warnings
		}
	}
}

// allWarnings lists the accepted resources' warnings by type, then name.
func (s *deltaSession) allWarnings() []string {
	byType := map[string][]string{}
	for t, m := range s.warnings {
		for _, n := range slices.Sorted(maps.Keys(m)) {
			byType[t] = append(byType[t], m[n]...)
		}
	}
	return warningsOf(byType)
}
