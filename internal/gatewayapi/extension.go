package gatewayapi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
)

// extensionPass handles the objects of an extension manager's kinds
// (resource.Set.Extra): HTTPRoute and GRPCRoute extensionRef filters that
// name one (resources) and policies that target Gateways or HTTPRoutes by targetRefs
// (policyResources). Everything in Set.Extra is of a kind some manager
// declared (the loader keeps nothing else there), so no configuration is
// needed here.
//
// It wraps the core translation: extensionRef filters are taken out of a
// copy of each route (so the core sees a plain rule), the copy is
// translated, and the objects are attached to the IR routes of their rule.
// A GRPCRoute's filters go the same way as an HTTPRoute's, as in Envoy
// Gateway, where both kinds hand them to the Route hook.
type extensionPass struct {
	in      *resource.Set
	kinds   map[string]bool                       // group/kind of every extra object
	objects map[string]*unstructured.Unstructured // group/kind/ns/name
	// refs[route][rule] are the rule's extensionRef objects, the route
	// named <kind>/<ns>/<name> as IR route names start (httproute/...,
	// grpcroute/...); a nil entry is a reference to an object that does
	// not exist.
	refs map[string]map[int][]*unstructured.Unstructured
	// missing[route] say which extensionRef objects of the route do not
	// exist, for its ResolvedRefs condition.
	missing map[string][]string
	// backends[route ns/name][rule] are the rule's custom backendRefs
	// (backendResources); onlyCustom marks rules with no other backendRef.
	backends   map[string]map[int][]*unstructured.Unstructured
	onlyCustom map[string]map[int]bool
	// copies and grpcCopies are the routes given stripped copies, by
	// ns/name (the translation's output routes are new objects).
	copies     map[string]*gwapiv1.HTTPRoute
	grpcCopies map[string]*gwapiv1.GRPCRoute
}

func newExtensionPass(in *resource.Set) *extensionPass {
	if in == nil || len(in.Extra) == 0 {
		return nil
	}
	p := &extensionPass{in: in, kinds: map[string]bool{}, objects: map[string]*unstructured.Unstructured{},
		refs: map[string]map[int][]*unstructured.Unstructured{}, copies: map[string]*gwapiv1.HTTPRoute{},
		grpcCopies: map[string]*gwapiv1.GRPCRoute{}, missing: map[string][]string{},
		backends: map[string]map[int][]*unstructured.Unstructured{}, onlyCustom: map[string]map[int]bool{}}
	for _, u := range in.Extra {
		gvk := u.GroupVersionKind()
		p.kinds[gvk.Group+"/"+gvk.Kind] = true
		p.objects[gvk.Group+"/"+gvk.Kind+"/"+u.GetNamespace()+"/"+u.GetName()] = u
	}
	return p
}

// translate runs the core translation on the set without the extension
// parts, then attaches them.
func (p *extensionPass) translate(opts Options) *Result {
	cp := *p.in
	cp.Extra = nil
	cp.HTTPRoutes = make([]*gwapiv1.HTTPRoute, len(p.in.HTTPRoutes))
	for i, r := range p.in.HTTPRoutes {
		cp.HTTPRoutes[i] = p.strip(r)
	}
	cp.GRPCRoutes = make([]*gwapiv1.GRPCRoute, len(p.in.GRPCRoutes))
	for i, r := range p.in.GRPCRoutes {
		cp.GRPCRoutes[i] = p.stripGRPC(r)
	}
	res := Translate(&cp, opts)
	// Show the routes as written, with the status of their copies.
	for i, r := range res.HTTPRoutes {
		if orig := p.copies[r.Namespace+"/"+r.Name]; orig != nil {
			c := *r
			c.Spec = orig.Spec
			c.Status.Parents = unresolved(c.Status.Parents, p.missing["httproute/"+r.Namespace+"/"+r.Name], r.Generation)
			res.HTTPRoutes[i] = &c
		}
	}
	for i, r := range res.GRPCRoutes {
		if orig := p.grpcCopies[r.Namespace+"/"+r.Name]; orig != nil {
			c := *r
			c.Spec = orig.Spec
			c.Status.Parents = unresolved(c.Status.Parents, p.missing["grpcroute/"+r.Namespace+"/"+r.Name], r.Generation)
			res.GRPCRoutes[i] = &c
		}
	}
	p.attach(res)
	return res
}

// strip returns r, or a copy without the extensionRef filters of extension
// kinds.
func (p *extensionPass) strip(r *gwapiv1.HTTPRoute) *gwapiv1.HTTPRoute {
	var c *gwapiv1.HTTPRoute
	for i, rule := range r.Spec.Rules {
		for _, f := range rule.Filters {
			if f.Type != gwapiv1.HTTPRouteFilterExtensionRef || !p.served(f.ExtensionRef) {
				continue
			}
			if c == nil {
				c = r.DeepCopy()
				p.copies[r.Namespace+"/"+r.Name] = r
			}
			p.addRef("httproute/"+r.Namespace+"/"+r.Name, i, r.Namespace, f.ExtensionRef)
		}
	}
	key := r.Namespace + "/" + r.Name
	for i, rule := range r.Spec.Rules {
		custom := 0
		for _, br := range rule.BackendRefs {
			if !p.isCustom(br.BackendRef) {
				continue
			}
			if c == nil {
				c = r.DeepCopy()
				p.copies[r.Namespace+"/"+r.Name] = r
			}
			if p.backends[key] == nil {
				p.backends[key], p.onlyCustom[key] = map[int][]*unstructured.Unstructured{}, map[int]bool{}
			}
			ns := r.Namespace
			if br.Namespace != nil {
				ns = string(*br.Namespace)
			}
			u := p.objects[groupOf(br.BackendRef)+"/"+string(*br.Kind)+"/"+ns+"/"+string(br.Name)]
			p.backends[key][i] = append(p.backends[key][i], u)
			custom++
		}
		if custom > 0 && custom == len(rule.BackendRefs) {
			p.onlyCustom[key][i] = true
		}
	}
	if c == nil {
		return r
	}
	for i := range c.Spec.Rules {
		var brs []gwapiv1.HTTPBackendRef
		for _, br := range c.Spec.Rules[i].BackendRefs {
			if !p.isCustom(br.BackendRef) {
				brs = append(brs, br)
			}
		}
		c.Spec.Rules[i].BackendRefs = brs
		c.Spec.Rules[i].Filters = slices.DeleteFunc(c.Spec.Rules[i].Filters, func(f gwapiv1.HTTPRouteFilter) bool {
			return f.Type == gwapiv1.HTTPRouteFilterExtensionRef && p.served(f.ExtensionRef)
		})
	}
	return c
}

// stripGRPC is strip for a GRPCRoute, whose extensionRef filters are the
// same references; custom backendRefs are HTTPRoute's only.
func (p *extensionPass) stripGRPC(r *gwapiv1.GRPCRoute) *gwapiv1.GRPCRoute {
	var c *gwapiv1.GRPCRoute
	for i, rule := range r.Spec.Rules {
		for _, f := range rule.Filters {
			if f.Type != gwapiv1.GRPCRouteFilterExtensionRef || !p.served(f.ExtensionRef) {
				continue
			}
			if c == nil {
				c = r.DeepCopy()
				p.grpcCopies[r.Namespace+"/"+r.Name] = r
			}
			p.addRef("grpcroute/"+r.Namespace+"/"+r.Name, i, r.Namespace, f.ExtensionRef)
		}
	}
	if c == nil {
		return r
	}
	for i := range c.Spec.Rules {
		c.Spec.Rules[i].Filters = slices.DeleteFunc(c.Spec.Rules[i].Filters, func(f gwapiv1.GRPCRouteFilter) bool {
			return f.Type == gwapiv1.GRPCRouteFilterExtensionRef && p.served(f.ExtensionRef)
		})
	}
	return c
}

// served reports whether an extensionRef names a kind of an extension
// manager.
func (p *extensionPass) served(ref *gwapiv1.LocalObjectReference) bool {
	return ref != nil && p.kinds[string(ref.Group)+"/"+string(ref.Kind)]
}

// addRef records the object an extensionRef of a route's rule names (nil
// if it does not exist); the object is in the route's namespace.
func (p *extensionPass) addRef(route string, rule int, ns string, ref *gwapiv1.LocalObjectReference) {
	if p.refs[route] == nil {
		p.refs[route] = map[int][]*unstructured.Unstructured{}
	}
	u := p.objects[string(ref.Group)+"/"+string(ref.Kind)+"/"+ns+"/"+string(ref.Name)]
	p.refs[route][rule] = append(p.refs[route][rule], u)
	if u == nil {
		p.missing[route] = append(p.missing[route], fmt.Sprintf("Reference %s/%s not found for filter type: %s.", ns, ref.Name, ref.Kind))
	}
}

// unresolved returns parent statuses whose ResolvedRefs is False when msgs
// (missing extensionRef objects) is not empty: Envoy Gateway's status for
// a filter it cannot resolve (UnsupportedValue). The statuses are copied,
// not modified.
func unresolved(parents []gwapiv1.RouteParentStatus, msgs []string, gen int64) []gwapiv1.RouteParentStatus {
	if len(msgs) == 0 {
		return parents
	}
	out := make([]gwapiv1.RouteParentStatus, len(parents))
	for i, ps := range parents {
		ps.Conditions = slices.Clone(ps.Conditions)
		for k, c := range ps.Conditions {
			if c.Type != string(gwapiv1.RouteConditionResolvedRefs) {
				continue
			}
			msg := strings.Join(msgs, " ")
			if c.Status == "False" {
				msg = c.Message + " " + msg // a reference problem of the core's
			}
			ps.Conditions[k] = newCondition(c.Type, "False", string(gwapiv1.RouteReasonUnsupportedValue), msg, gen)
		}
		out[i] = ps
	}
	return out
}

// attach puts extensionRef objects and policies on the IR.
func (p *extensionPass) attach(res *Result) {
	policies := p.policies()
	seen := map[*ir.HTTPRoute]bool{}
	for _, x := range res.XdsIR {
		for _, l := range x.HTTP {
			if l.Metadata != nil {
				for _, pol := range policies {
					if pol.targets("Gateway", l.Metadata.Namespace, l.Metadata.Name, l.Metadata.SectionName) {
						l.ExtensionPolicies = append(l.ExtensionPolicies, pol.ref)
					}
				}
			}
			for _, r := range l.Routes {
				if r == nil || seen[r] {
					continue
				}
				seen[r] = true
				p.attachRoute(r, policies)
			}
		}
	}
}

func (p *extensionPass) attachRoute(r *ir.HTTPRoute, policies []*extensionPolicy) {
	kind, ns, name, rule, ok := parseRouteName(r.Name)
	if !ok {
		return
	}
	for _, u := range p.refs[kind+"/"+ns+"/"+name][rule] {
		if u == nil {
			// Envoy Gateway answers a rule whose extensionRef object is
			// missing with a 500, as for any unresolvable filter.
			r.DirectResponse = &ir.DirectResponse{StatusCode: 500}
			continue
		}
		r.ExtensionRefs = append(r.ExtensionRefs, &ir.UnstructuredRef{Object: u.Object})
	}
	if kind != "httproute" {
		return // custom backends and extension policies are HTTPRoute's only
	}
	if bs, ok := p.backends[ns+"/"+name][rule]; ok {
		p.attachBackends(r, ns, name, rule, bs)
	}
	section := ""
	if r.Metadata != nil {
		section = r.Metadata.SectionName
	}
	for _, pol := range policies {
		if pol.targets("HTTPRoute", ns, name, section) {
			r.ExtensionPolicies = append(r.ExtensionPolicies, pol.ref)
		}
	}
}

// parseRouteName reads kind, namespace, name and rule index from an IR
// route name <kind>/<ns>/<name>/rule/<i>/..., kind httproute or grpcroute.
func parseRouteName(s string) (kind, ns, name string, rule int, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) < 5 || (parts[0] != "httproute" && parts[0] != "grpcroute") || parts[3] != "rule" {
		return "", "", "", 0, false
	}
	i, err := strconv.Atoi(parts[4])
	if err != nil {
		return "", "", "", 0, false
	}
	return parts[0], parts[1], parts[2], i, true
}

// extensionPolicy is an extra object with targetRefs.
type extensionPolicy struct {
	ref     *ir.UnstructuredRef
	ns      string
	targets func(kind, ns, name, section string) bool
}

// policies returns the extra objects that have spec.targetRefs (or the
// older spec.targetRef), in input order. Targets are in the policy's own
// namespace, as Envoy Gateway requires.
func (p *extensionPass) policies() []*extensionPolicy {
	var out []*extensionPolicy
	for _, u := range p.in.Extra {
		refs, _, _ := unstructured.NestedSlice(u.Object, "spec", "targetRefs")
		if one, ok, _ := unstructured.NestedMap(u.Object, "spec", "targetRef"); ok {
			refs = append(refs, one)
		}
		if len(refs) == 0 {
			continue
		}
		type target struct{ kind, name, section string }
		var ts []target
		for _, r := range refs {
			m, ok := r.(map[string]any)
			if !ok {
				continue
			}
			group, _ := m["group"].(string)
			if group != gwapiv1.GroupName {
				continue
			}
			kind, _ := m["kind"].(string)
			name, _ := m["name"].(string)
			section, _ := m["sectionName"].(string)
			ts = append(ts, target{kind, name, section})
		}
		ns := u.GetNamespace()
		out = append(out, &extensionPolicy{
			ref: &ir.UnstructuredRef{Object: u.Object},
			ns:  ns,
			targets: func(kind, tns, name, section string) bool {
				if tns != ns {
					return false
				}
				for _, t := range ts {
					if t.kind == kind && t.name == name && (t.section == "" || t.section == section) {
						return true
					}
				}
				return false
			},
		})
	}
	return out
}

// isCustom reports whether a backendRef names an extension kind.
func (p *extensionPass) isCustom(br gwapiv1.BackendRef) bool {
	return br.Kind != nil && p.kinds[groupOf(br)+"/"+string(*br.Kind)]
}

func groupOf(br gwapiv1.BackendRef) string {
	if br.Group == nil {
		return ""
	}
	return string(*br.Group)
}

// attachBackends gives the rule's destination its custom backends, for the
// Cluster hook. A rule whose only backends are custom has no destination
// after the core translation (it became a 500); it gets an empty one (an
// EDS cluster without endpoints) that the extension server fills in. A
// custom backend that does not exist keeps the 500.
func (p *extensionPass) attachBackends(r *ir.HTTPRoute, ns, name string, rule int, bs []*unstructured.Unstructured) {
	var refs []*ir.UnstructuredRef
	for _, u := range bs {
		if u == nil {
			r.DirectResponse, r.Destination = &ir.DirectResponse{StatusCode: 500}, nil
			return
		}
		refs = append(refs, &ir.UnstructuredRef{Object: u.Object})
	}
	if r.Destination == nil && r.Redirect == nil && p.onlyCustom[ns+"/"+name][rule] &&
		r.DirectResponse != nil && r.DirectResponse.StatusCode == 500 {
		r.DirectResponse = nil
		r.Destination = &ir.RouteDestination{Name: fmt.Sprintf("httproute/%s/%s/rule/%d", ns, name, rule), Metadata: r.Metadata}
	}
	if r.Destination != nil {
		// The routes of one rule (its matches times its hostnames) share
		// the rule's destination: write to a copy of it, or each route
		// would append the backends to the shared one again.
		d := *r.Destination
		d.ExtensionBackends = append(slices.Clip(d.ExtensionBackends), refs...)
		r.Destination = &d
	}
}
