package proxy

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
// them. LDS and CDS are wildcard subscriptions; RDS, EDS and SDS names
// follow what the accepted listeners and clusters reference, subscribed
// and unsubscribed as they change. Each response is compiled and checked
// whole before it is ACKed, exactly as SotW responses are (ads.go), and a
// NACK leaves the state untouched.

// deltaSession is one delta stream's protocol state.
type deltaSession struct {
	p        *Proxy
	state    *xdsState
	send     func(*discoveryv3.DeltaDiscoveryRequest) error
	subs     map[string][]string            // RDS, EDS and SDS names subscribed
	warnings map[string]map[string][]string // by type, then resource
	waiting
}

func (p *Proxy) streamDelta(ctx context.Context, conn *grpc.ClientConn, state *xdsState) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cli, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(sctx)
	if err != nil {
		return err
	}
	s := &deltaSession{p: p, state: state, send: cli.Send, subs: state.subscriptions(), warnings: map[string]map[string][]string{}}
	first := true
	for _, t := range []string{typeCDS, typeLDS, typeRDS, typeEDS, typeSDS} {
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, InitialResourceVersions: state.resourceVersions(t)}
		if t == typeCDS || t == typeLDS {
			req.ResourceNamesSubscribe = []string{"*"}
		} else if len(s.subs[t]) == 0 {
			continue
		} else {
			req.ResourceNamesSubscribe = s.subs[t]
		}
		if first {
			req.Node, first = p.node(), false
		}
		if err := s.send(req); err != nil {
			return err
		}
	}
	return pump(ctx, sctx, cli.Recv, s.handle, func() { s.expire(p, state) })
}

// handle compiles the changed resources, merges them (and the removals)
// into a copy of the type's state, checks the whole, then ACKs and applies
// it, or NACKs it.
func (s *deltaSession) handle(r *discoveryv3.DeltaDiscoveryResponse) error {
	t := r.GetTypeUrl()
	p := s.p
	if _, ok := shortType[t]; !ok {
		return s.nack(r, fmt.Errorf("type %s is not supported", t))
	}
	anys := make([]*anypb.Any, 0, len(r.GetResources()))
	for _, res := range r.GetResources() {
		if res.GetResource() == nil {
			return s.nack(r, fmt.Errorf("resource %q has no body", res.GetName()))
		}
		anys = append(anys, res.GetResource())
	}
	c, err := compileResources(t, anys, p.buildContext(), s.state.memoFor(t))
	if err == nil {
		// Removals and resumes go by the wrapper's name: it must be
		// the resource's own.
		names := c.names(t)
		for _, res := range r.GetResources() {
			if _, ok := names[res.GetName()]; !ok {
				err = fmt.Errorf("resource named %q in the response carries another name", res.GetName())
				break
			}
		}
	}
	var whole *compiled
	if err == nil {
		whole = s.state.merged(t, c, r.GetRemovedResources())
		if t == typeLDS {
			err = p.bind(whole)
		}
	}
	if err != nil {
		return s.nack(r, err)
	}
	s.state.replace(t, whole, s.subs)
	s.state.versions[t] = r.GetSystemVersionInfo()
	s.state.noteVersions(t, r.GetResources(), r.GetRemovedResources())
	if err := s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: r.GetNonce()}); err != nil {
		return err
	}
	p.update(func(st *Status) { st.Versions[shortType[t]] = r.GetSystemVersionInfo() })
	for _, w := range c.warnings {
		p.log.Warn("config accepted with a limitation", "detail", w)
	}
	s.noteWarnings(t, c, r.GetRemovedResources())
	p.update(func(st *Status) { st.Warnings = s.allWarnings() })
	if t == typeLDS || t == typeCDS {
		if err := s.resubscribe(); err != nil {
			return err
		}
	}
	s.accepted(s.p, s.state, s.subs)
	return nil
}

// resubscribe follows the names the listeners and clusters now reference.
func (s *deltaSession) resubscribe() error {
	subs := s.state.subscriptions()
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
		s.state.prune(s.subs)
		if err := s.send(req); err != nil {
			return err
		}
	}
	return nil
}

func (s *deltaSession) nack(r *discoveryv3.DeltaDiscoveryResponse, err error) error {
	p := s.p
	t := r.GetTypeUrl()
	msg := fmt.Sprintf("%s version %s rejected: %v", shortType[t], r.GetSystemVersionInfo(), err)
	p.log.Error("NACK", "type", t, "version", r.GetSystemVersionInfo(), "err", err)
	p.update(func(st *Status) { st.LastNACK, st.NACKs = msg, st.NACKs+1 })
	return s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: r.GetNonce(),
		ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: msg}})
}

// noteWarnings keeps each resource's warnings until it changes or goes.
func (s *deltaSession) noteWarnings(t string, c *compiled, removed []string) {
	m := s.warnings[t]
	if m == nil {
		m = map[string][]string{}
		s.warnings[t] = m
	}
	for _, n := range removed {
		delete(m, n)
	}
	for n := range c.names(t) {
		delete(m, n)
	}
	maps.Copy(m, c.warnByName)
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

// names are the names of c's resources of the type.
func (c *compiled) names(typeURL string) map[string]struct{} {
	switch typeURL {
	case typeLDS:
		return keySet(c.listeners)
	case typeCDS:
		return keySet(c.clusters)
	case typeRDS:
		return keySet(c.routes)
	case typeEDS:
		return keySet(c.endpoints)
	case typeSDS:
		return keySet(c.secrets)
	}
	return nil
}

func keySet[T any](m map[string]T) map[string]struct{} {
	out := make(map[string]struct{}, len(m))
	for k := range m {
		out[k] = struct{}{}
	}
	return out
}

// replace makes whole the type's state; named types keep only what is
// subscribed.
func (s *xdsState) replace(typeURL string, whole *compiled, subs map[string][]string) {
	switch typeURL {
	case typeLDS:
		s.listeners = whole.listeners
	case typeCDS:
		s.clusters = whole.clusters
	case typeRDS:
		s.routes = map[string]*routeTable{}
		keepSubscribed(s.routes, whole.routes, subs[typeRDS])
	case typeEDS:
		s.endpoints = map[string]*endpointSet{}
		keepSubscribed(s.endpoints, whole.endpoints, subs[typeEDS])
	case typeSDS:
		s.secrets = map[string]*secret{}
		keepSubscribed(s.secrets, whole.secrets, subs[typeSDS])
	}
	if typeURL == typeLDS || typeURL == typeCDS {
		s.prune(subs)
	}
}

// merged is the type's accepted resources with c's added or replaced and
// the removed names dropped: what a delta response makes of the state.
func (s *xdsState) merged(typeURL string, c *compiled, removed []string) *compiled {
	out := &compiled{}
	switch typeURL {
	case typeLDS:
		out.listeners = mergeMap(s.listeners, c.listeners, removed)
	case typeCDS:
		out.clusters = mergeMap(s.clusters, c.clusters, removed)
	case typeRDS:
		out.routes = mergeMap(s.routes, c.routes, removed)
	case typeEDS:
		out.endpoints = mergeMap(s.endpoints, c.endpoints, removed)
	case typeSDS:
		out.secrets = mergeMap(s.secrets, c.secrets, removed)
	}
	out.warnings = c.warnings
	return out
}

func mergeMap[T any](cur, add map[string]T, removed []string) map[string]T {
	out := make(map[string]T, len(cur)+len(add))
	maps.Copy(out, cur)
	for _, n := range removed {
		delete(out, n)
	}
	maps.Copy(out, add)
	return out
}

// resourceVersions are the versions of the type's accepted resources, for
// a reconnecting stream's initial_resource_versions: the server then sends
// only what changed while the proxy was away.
func (s *xdsState) resourceVersions(typeURL string) map[string]string {
	if len(s.resVersions[typeURL]) == 0 {
		return nil
	}
	return maps.Clone(s.resVersions[typeURL])
}

func (s *xdsState) noteVersions(typeURL string, added []*discoveryv3.Resource, removed []string) {
	m := s.resVersions[typeURL]
	if m == nil {
		m = map[string]string{}
		s.resVersions[typeURL] = m
	}
	for _, n := range removed {
		delete(m, n)
	}
	for _, r := range added {
		m[r.GetName()] = r.GetVersion()
	}
}
