package translator

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/portico-gw/portico/internal/ir"
)

func newRouteConfig(name string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name, IgnorePortInHostMatching: true}
}

// addVirtualHosts appends l's virtual hosts (one per route hostname, in the
// order hostnames first appear) to rc. A route that cannot be expressed is
// left out with an error.
func addVirtualHosts(x *ir.Xds, l *ir.HTTPListener, rc *routev3.RouteConfiguration, s *Sink, e *errs) {
	byHost := map[string]*routev3.VirtualHost{}
	first := len(rc.VirtualHosts)
	reusable := s.memo.reusableRoutes(l)
	for i, r := range l.Routes {
		if r == nil {
			continue
		}
		route, err := buildRouteMemo(x, l, r, s, reusable[i])
		if err != nil {
			e.add("HTTPRoute", r.Name, err)
			continue
		}
		vh := byHost[r.Hostname]
		if vh == nil {
			// reuseVhost compares what this is built from.
			vh = &routev3.VirtualHost{
				Name:    virtualHostName(x, l, r.Hostname),
				Domains: []string{r.Hostname},
			}
			byHost[r.Hostname] = vh
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
		vh.Routes = append(vh.Routes, route)
	}
	for i, vh := range rc.VirtualHosts[first:] {
		// The metadata is built only for a virtual host not reused.
		if reused := reuseVhost(s, l, vh.GetDomains()[0], vh); reused != vh {
			rc.VirtualHosts[first+i] = reused
		} else {
			vh.Metadata = resourceMetadata(l.Metadata)
		}
	}
}

// buildRoute is one Envoy route. It is validated before it is returned so
// that one bad route never reaches the proxy.
func buildRoute(x *ir.Xds, l *ir.HTTPListener, r *ir.HTTPRoute, s *Sink) (*routev3.Route, error) {
	match, err := routeMatch(r)
	if err != nil {
		return nil, err
	}
	route := &routev3.Route{Name: r.Name, Match: match, Metadata: resourceMetadata(r.Metadata)}
	if err := setHeaders(route, r); err != nil {
		return nil, err
	}
	switch {
	case r.DirectResponse != nil:
		route.Action = directResponse(r.DirectResponse)
	case r.Redirect != nil:
		a, err := redirectAction(r.Redirect, r.PathMatch)
		if err != nil {
			return nil, err
		}
		route.Action = a
	case r.Destination != nil:
		a, err := routeAction(r, s)
		if err != nil {
			return nil, err
		}
		route.Action = &routev3.Route_Route{Route: a}
	default:
		return nil, fmt.Errorf("route has no destination, redirect or direct response")
	}
	if err := applyRouteFilters(&RouteContext{Xds: x, Listener: l, IR: r, Route: route, Sink: s}); err != nil {
		return nil, err
	}
	if err := route.ValidateAll(); err != nil {
		return nil, err
	}
	return route, nil
}

func directResponse(d *ir.DirectResponse) *routev3.Route_DirectResponse {
	a := &routev3.DirectResponseAction{Status: d.StatusCode}
	if d.Body != nil {
		a.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: *d.Body}}
	}
	return &routev3.Route_DirectResponse{DirectResponse: a}
}

// setHeaders adds the request and response header modifiers. Each value of
// a header is one entry; Append appends, otherwise the header is set.
func setHeaders(route *routev3.Route, r *ir.HTTPRoute) error {
	var err error
	if route.RequestHeadersToAdd, err = headerOptions(r.AddRequestHeaders); err != nil {
		return err
	}
	if route.ResponseHeadersToAdd, err = headerOptions(r.AddResponseHeaders); err != nil {
		return err
	}
	route.RequestHeadersToRemove = r.RemoveRequestHeaders
	route.ResponseHeadersToRemove = r.RemoveResponseHeaders
	return nil
}

func headerOptions(hs []ir.AddHeader) ([]*corev3.HeaderValueOption, error) {
	var out []*corev3.HeaderValueOption
	for _, h := range hs {
		if h.Name == "" {
			return nil, fmt.Errorf("header without name")
		}
		action := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		if h.Append {
			action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		}
		values := h.Value
		if len(values) == 0 {
			values = []string{""}
		}
		for i, v := range values {
			a := action
			if i > 0 {
				// Later values of one header add to the first one.
				a = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
			}
			out = append(out, &corev3.HeaderValueOption{
				Header:         &corev3.HeaderValue{Key: h.Name, Value: v},
				AppendAction:   a,
				KeepEmptyValue: v == "",
			})
		}
	}
	return out, nil
}
