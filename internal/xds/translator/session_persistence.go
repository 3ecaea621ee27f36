package translator

import (
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	statefulsessionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/stateful_session/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	cookiev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/cookie/v3"
	headerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/header/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/type/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portico-gw/portico/internal/ir"
)

const (
	statefulSessionFilterName = "envoy.filters.http.stateful_session"
	// RankStatefulSession is stateful_session's place in Envoy Gateway's order.
	RankStatefulSession = 11
)

// Session persistence follows Envoy Gateway's layout: one disabled
// stateful_session entry in the HCM, built from the first route that has
// session persistence (its config never applies: every such route
// overrides it), and on each such route a StatefulSessionPerRoute with the
// route's own StatefulSession, which also enables the filter there.
func init() {
	RegisterHTTPFilter(HTTPFilter{
		Name:     statefulSessionFilterName,
		Rank:     RankStatefulSession,
		Listener: statefulSessionListenerFilters,
		Route:    statefulSessionRouteConfig,
	})
}

func statefulSessionListenerFilters(c *ListenerContext) ([]*hcmv3.HttpFilter, error) {
	r := firstRoute(c, func(r *ir.HTTPRoute) bool { return r.SessionPersistence != nil })
	if r == nil {
		return nil, nil
	}
	ss, err := statefulSession(r)
	if err != nil {
		return nil, err
	}
	f, err := disabledFilter(statefulSessionFilterName, ss)
	if err != nil {
		return nil, err
	}
	return []*hcmv3.HttpFilter{f}, nil
}

func statefulSessionRouteConfig(c *RouteContext) error {
	if c.IR.SessionPersistence == nil {
		return nil
	}
	ss, err := statefulSession(c.IR)
	if err != nil {
		return err
	}
	return c.SetPerFilterConfig(statefulSessionFilterName, &statefulsessionv3.StatefulSessionPerRoute{
		Override: &statefulsessionv3.StatefulSessionPerRoute_StatefulSession{StatefulSession: ss},
	})
}

// statefulSession is a route's StatefulSession: cookie- or header-based
// session state.
func statefulSession(r *ir.HTTPRoute) (*statefulsessionv3.StatefulSession, error) {
	sp := r.SessionPersistence
	var (
		state   proto.Message
		extName string
	)
	switch {
	case sp.Cookie != nil:
		ck := &httpv3.Cookie{Name: sp.Cookie.Name, Path: cookiePath(r.PathMatch)}
		if sp.Cookie.TTL != "" {
			d, err := time.ParseDuration(sp.Cookie.TTL)
			if err != nil {
				return nil, fmt.Errorf("route %s: session cookie ttl: %v", r.Name, err)
			}
			ck.Ttl = durationpb.New(d)
		}
		state, extName = &cookiev3.CookieBasedSessionState{Cookie: ck}, "envoy.http.stateful_session.cookie"
	case sp.Header != nil:
		state, extName = &headerv3.HeaderBasedSessionState{Name: sp.Header.Name}, "envoy.http.stateful_session.header"
	default:
		return nil, fmt.Errorf("route %s: session persistence without a cookie or a header", r.Name)
	}
	a, err := packAny(state)
	if err != nil {
		return nil, err
	}
	ss := &statefulsessionv3.StatefulSession{SessionState: &corev3.TypedExtensionConfig{Name: extName, TypedConfig: a}}
	if err := ss.ValidateAll(); err != nil {
		return nil, fmt.Errorf("route %s: %v", r.Name, err)
	}
	return ss, nil
}

// cookiePath is the session cookie's Path for a route's path match, as
// Envoy Gateway derives it (GEP-1619): the exact path or the prefix; for
// a regex, the segments before the first one holding a "*".
func cookiePath(m *ir.StringMatch) string {
	switch {
	case m == nil:
		return "/"
	case m.Exact != nil:
		return *m.Exact
	case m.Prefix != nil:
		return *m.Prefix
	case m.SafeRegex != nil:
		var kept []string
		for _, seg := range strings.Split(*m.SafeRegex, "/") {
			if strings.Contains(seg, "*") {
				break
			}
			kept = append(kept, seg)
		}
		return strings.Join(kept, "/")
	}
	return "/"
}
