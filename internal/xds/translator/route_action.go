package translator

import (
	"fmt"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/portico-gw/portico/internal/ir"
)

// routeAction forwards to the destination's cluster (or one cluster per
// backend setting, weighted, when the settings cannot share a cluster),
// with rewrites, mirrors, timeouts and retries; it adds the clusters to s.
func routeAction(r *ir.HTTPRoute, s *Sink) (*routev3.RouteAction, error) {
	a := &routev3.RouteAction{}
	// What can fail without side effects goes first, so a bad route adds
	// no clusters.
	if err := setURLRewrite(a, r.URLRewrite, r.PathMatch); err != nil {
		return nil, err
	}
	if err := setTraffic(a, r.Traffic); err != nil {
		return nil, err
	}
	if err := setClusters(a, r.Destination, s); err != nil {
		return nil, err
	}
	if !r.IsHTTP2 {
		a.UpgradeConfigs = []*routev3.RouteAction_UpgradeConfig{{UpgradeType: "websocket"}}
	}
	for _, m := range r.Mirrors {
		p, err := mirrorPolicy(m, s)
		if err != nil {
			return nil, err
		}
		a.RequestMirrorPolicies = append(a.RequestMirrorPolicies, p)
	}
	return a, nil
}

// needsClusterPerSetting: settings that cannot share one cluster (IP and
// FQDN backends, or HTTP/1 and HTTP/2 upstreams) become one cluster each,
// named after the setting, and the route uses weighted_clusters.
func needsClusterPerSetting(d *ir.RouteDestination) bool {
	kind, h2 := "", false
	for i, st := range d.Settings {
		k := settingKind(st)
		sh2 := st.Protocol == "HTTP2" || st.Protocol == "GRPC"
		if i > 0 && ((k != "" && kind != "" && k != kind) || sh2 != h2) {
			return true
		}
		if k != "" {
			kind = k
		}
		h2 = sh2
	}
	return false
}

func setClusters(a *routev3.RouteAction, d *ir.RouteDestination, s *Sink) error {
	if d.Name == "" {
		return fmt.Errorf("destination without name")
	}
	if !needsClusterPerSetting(d) {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: d.Name}
		return addCluster(clusterSpec{name: d.Name, settings: d.Settings, metadata: d.Metadata}, s)
	}
	wc := &routev3.WeightedCluster{}
	for _, st := range d.Settings {
		w := uint32(1)
		if st.Weight != nil {
			w = *st.Weight
		}
		if err := addCluster(clusterSpec{name: st.Name, settings: []*ir.DestinationSetting{st}, metadata: d.Metadata}, s); err != nil {
			return err
		}
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: st.Name, Weight: wrapUint32(w)})
	}
	a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	return nil
}

func mirrorPolicy(m *ir.MirrorPolicy, s *Sink) (*routev3.RouteAction_RequestMirrorPolicy, error) {
	if m == nil || m.Destination == nil || m.Destination.Name == "" {
		return nil, fmt.Errorf("mirror without destination")
	}
	d := m.Destination
	if err := addCluster(clusterSpec{name: d.Name, settings: d.Settings, metadata: d.Metadata}, s); err != nil {
		return nil, err
	}
	p := &routev3.RouteAction_RequestMirrorPolicy{Cluster: d.Name}
	if m.Percentage != nil {
		if *m.Percentage < 0 || *m.Percentage > 100 {
			return nil, fmt.Errorf("mirror percentage %v out of range", *m.Percentage)
		}
		p.RuntimeFraction = &corev3RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
			Numerator:   uint32(*m.Percentage * 10000),
			Denominator: typev3.FractionalPercent_MILLION,
		}}
	}
	return p, nil
}

// setURLRewrite: a hostname rewrite sets the Host header (keeping the
// original in X-Forwarded-Host); a full path rewrite replaces the whole
// path with a regex; a prefix rewrite replaces the matched prefix.
func setURLRewrite(a *routev3.RouteAction, u *ir.URLRewrite, pm *ir.StringMatch) error {
	if u == nil {
		return nil
	}
	if u.Hostname != nil && u.Hostname.Name != nil {
		a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: *u.Hostname.Name}
		a.AppendXForwardedHost = true
	}
	if u.Path == nil {
		return nil
	}
	switch {
	case u.Path.FullReplace != nil:
		a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: "^/.*$"},
			Substitution: *u.Path.FullReplace,
		}
	case u.Path.PrefixMatchReplace != nil:
		rw, re := prefixRewrite(*u.Path.PrefixMatchReplace, pm)
		if re != nil {
			a.RegexRewrite = re
		} else {
			a.PrefixRewrite = rw
		}
	}
	return nil
}

// prefixRewrite replaces the matched prefix. Replacing a prefix with "/"
// uses a regex so that "/prefix/x" becomes "/x", not "//x".
func prefixRewrite(replace string, pm *ir.StringMatch) (string, *matcherv3.RegexMatchAndSubstitute) {
	if replace == "/" && pm != nil && pm.Prefix != nil {
		prefix := strings.TrimRight(*pm.Prefix, "/")
		if prefix != "" {
			return "", &matcherv3.RegexMatchAndSubstitute{
				Pattern:      &matcherv3.RegexMatcher{Regex: "^" + regexp.QuoteMeta(prefix) + `\/*`},
				Substitution: "/",
			}
		}
	}
	return replace, nil
}

var redirectCodes = map[int32]routev3.RedirectAction_RedirectResponseCode{
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// redirectAction is a Gateway API RequestRedirect (302 unless told).
func redirectAction(r *ir.Redirect, pm *ir.StringMatch) (*routev3.Route_Redirect, error) {
	a := &routev3.RedirectAction{ResponseCode: routev3.RedirectAction_FOUND}
	if r.StatusCode != nil {
		c, ok := redirectCodes[*r.StatusCode]
		if !ok {
			return nil, fmt.Errorf("unsupported redirect status code %d", *r.StatusCode)
		}
		a.ResponseCode = c
	}
	if r.Scheme != nil {
		a.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: *r.Scheme}
	}
	if r.Hostname != nil {
		a.HostRedirect = *r.Hostname
	}
	if r.Port != nil {
		a.PortRedirect = *r.Port
	}
	if p := r.Path; p != nil {
		switch {
		case p.FullReplace != nil:
			a.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: *p.FullReplace}
		case p.PrefixMatchReplace != nil:
			rw, re := prefixRewrite(*p.PrefixMatchReplace, pm)
			if re != nil {
				a.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: re}
			} else {
				a.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: rw}
			}
		}
	}
	return &routev3.Route_Redirect{Redirect: a}, nil
}
