package gatewayapi

import (
	"fmt"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
)

// applyFilter applies one HTTPRoute filter to the route template. It
// returns a message when the filter cannot be honoured; the rule then
// answers 500 instead of silently doing less than asked.
func (t *translation) applyFilter(ro routeObject, r *ir.HTTPRoute, f gwapiv1.HTTPRouteFilter, name string, probs *ruleProblems) string {
	switch f.Type {
	case gwapiv1.HTTPRouteFilterRequestHeaderModifier:
		if f.RequestHeaderModifier == nil {
			return "RequestHeaderModifier filter has no requestHeaderModifier."
		}
		add, remove := headerOps(f.RequestHeaderModifier)
		r.AddRequestHeaders = append(r.AddRequestHeaders, add...)
		r.RemoveRequestHeaders = append(r.RemoveRequestHeaders, remove...)
	case gwapiv1.HTTPRouteFilterResponseHeaderModifier:
		if f.ResponseHeaderModifier == nil {
			return "ResponseHeaderModifier filter has no responseHeaderModifier."
		}
		add, remove := headerOps(f.ResponseHeaderModifier)
		r.AddResponseHeaders = append(r.AddResponseHeaders, add...)
		r.RemoveResponseHeaders = append(r.RemoveResponseHeaders, remove...)
	case gwapiv1.HTTPRouteFilterRequestRedirect:
		rr := f.RequestRedirect
		if rr == nil {
			return "RequestRedirect filter has no requestRedirect."
		}
		red := &ir.Redirect{Scheme: rr.Scheme, Path: pathModifier(rr.Path)}
		if rr.Hostname != nil {
			red.Hostname = ptr(string(*rr.Hostname))
		}
		if rr.Port != nil {
			red.Port = ptr(uint32(*rr.Port))
		}
		code := int32(302)
		if rr.StatusCode != nil {
			code = int32(*rr.StatusCode)
		}
		red.StatusCode = &code
		r.Redirect = red
	case gwapiv1.HTTPRouteFilterURLRewrite:
		uw := f.URLRewrite
		if uw == nil {
			return "URLRewrite filter has no urlRewrite."
		}
		rw := &ir.URLRewrite{Path: pathModifier(uw.Path)}
		if uw.Hostname != nil {
			rw.Hostname = &ir.HTTPHostModifier{Name: ptr(string(*uw.Hostname))}
		}
		r.URLRewrite = rw
	case gwapiv1.HTTPRouteFilterRequestMirror:
		m := f.RequestMirror
		if m == nil {
			return "RequestMirror filter has no requestMirror."
		}
		setting := t.resolveBackendRef(ro, gwapiv1.BackendRef{BackendObjectReference: m.BackendRef}, name+"/backend/0", probs)
		if setting == nil {
			return "" // the reference problem is already in ResolvedRefs
		}
		mirror := &ir.MirrorPolicy{Destination: &ir.RouteDestination{Name: name, Settings: []*ir.DestinationSetting{setting}}}
		switch {
		case m.Percent != nil:
			mirror.Percentage = ptr(float32(*m.Percent))
		case m.Fraction != nil:
			den := int32(100)
			if m.Fraction.Denominator != nil {
				den = *m.Fraction.Denominator
			}
			if den > 0 {
				mirror.Percentage = ptr(float32(m.Fraction.Numerator) * 100 / float32(den))
			}
		}
		r.Mirrors = append(r.Mirrors, mirror)
	case gwapiv1.HTTPRouteFilterCORS:
		if f.CORS == nil {
			return "CORS filter has no cors."
		}
		r.CORS = routeCORS(f.CORS)
	case gwapiv1.HTTPRouteFilterExtensionRef:
		// Filters of an extension server's kinds were taken out before
		// (extensionPass.strip); what is left names a kind nobody serves.
		if f.ExtensionRef == nil {
			return "ExtensionRef filter has no extensionRef."
		}
		return fmt.Sprintf("invalid filter ExtensionRef: unknown kind %s/%s.", f.ExtensionRef.Group, f.ExtensionRef.Kind)
	default:
		return fmt.Sprintf("filter type %s is not supported by Portico yet.", f.Type)
	}
	return ""
}

// headerOps maps a header modifier: set replaces, add appends.
func headerOps(h *gwapiv1.HTTPHeaderFilter) ([]ir.AddHeader, []string) {
	var add []ir.AddHeader
	for _, s := range h.Set {
		add = append(add, ir.AddHeader{Name: string(s.Name), Value: []string{s.Value}, Append: false})
	}
	for _, a := range h.Add {
		add = append(add, ir.AddHeader{Name: string(a.Name), Value: []string{a.Value}, Append: true})
	}
	var remove []string
	for _, name := range h.Remove {
		remove = append(remove, strings.ToLower(name))
	}
	return add, remove
}

func pathModifier(p *gwapiv1.HTTPPathModifier) *ir.HTTPPathModifier {
	if p == nil {
		return nil
	}
	switch p.Type {
	case gwapiv1.FullPathHTTPPathModifier:
		return &ir.HTTPPathModifier{FullReplace: p.ReplaceFullPath}
	case gwapiv1.PrefixMatchHTTPPathModifier:
		return &ir.HTTPPathModifier{PrefixMatchReplace: p.ReplacePrefixMatch}
	}
	return nil
}
