package translator

import (
	"fmt"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Translate turns x into xDS resources. It always returns resources (never
// nil); the error, when not nil, is an Errors value listing the IR objects
// that could not be expressed and were left out.
func Translate(x *ir.Xds) (*xdstypes.Resources, error) {
	return translate(x, newSink())
}

func translate(x *ir.Xds, s *Sink) (*xdstypes.Resources, error) {
	e := &errs{}
	if x == nil {
		return &s.res, nil
	}
	if x.ReadyListener != nil {
		l, err := readyListener(x.ReadyListener)
		if err != nil {
			e.add("ReadyListener", readyListenerName(x.ReadyListener), err)
		} else {
			s.AddListener(l)
		}
	}
	for _, g := range groupListeners(x.HTTP, e) {
		translatePort(x, g, s, e)
	}
	translateLayer4(x, s, e)
	return &s.res, e.err()
}

// portGroup is the IR listeners that share one address and port: one
// Envoy listener.
type portGroup struct {
	listeners []*ir.HTTPListener
	tls       bool
}

// groupListeners groups IR listeners by address and port, in IR order. A
// listener whose TLS-ness differs from the first of its port is an error.
func groupListeners(ls []*ir.HTTPListener, e *errs) []*portGroup {
	var groups []*portGroup
	byKey := map[string]*portGroup{}
	names := map[string]bool{}
	for _, l := range ls {
		if l == nil {
			continue
		}
		if names[l.Name] {
			e.add("HTTPListener", l.Name, fmt.Errorf("duplicate listener name"))
			continue
		}
		names[l.Name] = true
		key := fmt.Sprintf("%s|%d", l.Address, l.Port)
		g := byKey[key]
		if g == nil {
			g = &portGroup{tls: l.TLS != nil}
			byKey[key] = g
			groups = append(groups, g)
		}
		if (l.TLS != nil) != g.tls {
			e.add("HTTPListener", l.Name, fmt.Errorf("port %d mixes HTTP and HTTPS listeners", l.Port))
			continue
		}
		g.listeners = append(g.listeners, l)
	}
	return groups
}

// translatePort builds the Envoy listener, route configurations, clusters
// and secrets of one port.
func translatePort(x *ir.Xds, g *portGroup, s *Sink, e *errs) {
	if g.tls {
		translateHTTPS(x, g.listeners, s, e)
	} else {
		translateHTTP(x, g.listeners, s, e)
	}
	s.flushPending(e)
}

func translateHTTP(x *ir.Xds, ls []*ir.HTTPListener, s *Sink, e *errs) {
	first := ls[0]
	rcName := httpRouteConfigName(x, first)
	hcm, err := buildHCM(x, first, ls, rcName, s, e)
	if err != nil {
		e.add("HTTPListener", first.Name, err)
		return
	}
	l := baseListener(x, first)
	l.DefaultFilterChain = hcmFilterChain(rcName, hcm)
	rc := newRouteConfig(rcName)
	for _, il := range ls {
		addVirtualHosts(x, il, rc, s, e)
	}
	s.AddListener(l)
	s.AddRouteConfig(rc)
}

func translateHTTPS(x *ir.Xds, ls []*ir.HTTPListener, s *Sink, e *errs) {
	first := ls[0]
	l := baseListener(x, first)
	for _, il := range ls {
		chain, secrets, err := httpsFilterChain(x, il, s, e)
		if err != nil {
			e.add("HTTPListener", il.Name, err)
			continue
		}
		for _, sec := range secrets {
			s.AddSecret(sec)
		}
		l.FilterChains = append(l.FilterChains, chain)
		rc := newRouteConfig(il.Name)
		addVirtualHosts(x, il, rc, s, e)
		s.AddRouteConfig(rc)
	}
	for _, c := range l.FilterChains {
		// SNI matching needs the TLS inspector; a catch-all chain does not.
		if c.FilterChainMatch != nil && l.ListenerFilters == nil {
			l.ListenerFilters = tlsInspector()
		}
	}
	if len(l.FilterChains) > 0 {
		s.AddListener(l)
	}
}
