package gatewayapi

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// The extProc entries of an EnvoyExtensionPolicy become ir.ExtProc values
// as Envoy Gateway builds them: one processor (filter and cluster) per
// entry, named envoyextensionpolicy/<ns>/<policy>/extproc/<i>. An entry
// that cannot be built is reported ("ExtProc: <error>.") and its routes
// answer 500, unless the entry has failOpen: then they serve without it.

// extProcAttribute is the CRD's pattern for attribute names.
var extProcAttribute = regexp.MustCompile(`^(connection\.|source\.|destination\.|request\.|response\.|upstream\.|xds\.route_)[a-z_1-9]*$`)

// extProcPolicy is the ext_proc part of one policy.
type extProcPolicy struct {
	procs []ir.ExtProc
	errs  []string
	// failClosed is set when an entry without failOpen could not be built.
	failClosed bool
}

// buildExtProcPolicy resolves the processors of a policy once; every
// route it applies to shares them.
func (t *translation) buildExtProcPolicy(p *egv1a1.EnvoyExtensionPolicy) *extProcPolicy {
	if len(p.Spec.ExtProc) == 0 {
		return nil
	}
	ep := &extProcPolicy{}
	owner := extServiceOwner{kind: egv1a1.KindEnvoyExtensionPolicy, namespace: p.Namespace, name: p.Name}
	for i, e := range p.Spec.ExtProc {
		name := strings.ToLower(fmt.Sprintf("%s/%s/%s/extproc/%d", extensionPolicyIR, p.Namespace, p.Name, i))
		proc, err := t.buildExtProc(owner, name, e)
		if err != nil {
			ep.errs = append(ep.errs, fmt.Sprintf("ExtProc: %s.", strings.TrimSuffix(err.Error(), ".")))
			ep.failClosed = ep.failClosed || e.FailOpen == nil || !*e.FailOpen
			continue
		}
		ep.procs = append(ep.procs, *proc)
	}
	return ep
}

func (t *translation) buildExtProc(owner extServiceOwner, name string, e egv1a1.ExtProc) (*ir.ExtProc, error) {
	if err := checkExtProcRules(e); err != nil {
		return nil, err
	}
	svc, err := t.resolveExtService(extServiceSpec{owner: owner, cluster: name, protocol: "GRPC", authority: authorityOfRef}, e.BackendCluster)
	if err != nil {
		return nil, err
	}
	proc := &ir.ExtProc{Name: name, Destination: svc.Destination, Authority: svc.Authority, FailOpen: e.FailOpen}
	if e.MessageTimeout != nil {
		d, err := time.ParseDuration(string(*e.MessageTimeout))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("invalid ExtProc MessageTimeout value %s", *e.MessageTimeout)
		}
		proc.MessageTimeout = ptr(string(*e.MessageTimeout))
	}
	if m := e.ProcessingMode; m != nil {
		if m.Request != nil {
			proc.RequestHeaderProcessing = true
			proc.RequestBodyProcessingMode = bodyMode(m.Request.Body)
			proc.RequestAttributes = m.Request.Attributes
		}
		if m.Response != nil {
			proc.ResponseHeaderProcessing = true
			proc.ResponseBodyProcessingMode = bodyMode(m.Response.Body)
			proc.ResponseAttributes = m.Response.Attributes
		}
		proc.AllowModeOverride = m.AllowModeOverride
	}
	if md := e.Metadata; md != nil {
		proc.ForwardingMetadataNamespaces = md.AccessibleNamespaces
		proc.ReceivingMetadataNamespaces = md.WritableNamespaces
	}
	if e.ShadowMode != nil {
		proc.ShadowMode = *e.ShadowMode
	}
	if e.StatusOnError != nil {
		proc.StatusOnError = ptr(uint32(*e.StatusOnError))
	}
	return proc, nil
}

func bodyMode(m *egv1a1.ExtProcBodyProcessingMode) *string {
	if m == nil {
		return nil
	}
	return ptr(string(*m))
}

// checkExtProcRules applies the CRD's CEL rules (Portico's loader does not
// evaluate CEL), with their messages.
func checkExtProcRules(e egv1a1.ExtProc) error {
	failOpen := e.FailOpen != nil && *e.FailOpen
	var bodies []*egv1a1.ExtProcBodyProcessingMode
	var attrs []string
	if m := e.ProcessingMode; m != nil {
		for _, o := range []*egv1a1.ProcessingModeOptions{m.Request, m.Response} {
			if o != nil {
				bodies = append(bodies, o.Body)
				attrs = append(attrs, o.Attributes...)
			}
		}
	}
	for _, b := range bodies {
		switch {
		case b == nil:
		case failOpen && *b == egv1a1.FullDuplexStreamedExtProcBodyProcessingMode:
			return fmt.Errorf("If FullDuplexStreamed body processing mode is used, FailOpen must be false")
		case e.ShadowMode != nil && *e.ShadowMode && *b != egv1a1.StreamedExtProcBodyProcessingMode:
			return fmt.Errorf("If shadowMode is enabled, body processing mode must be Streamed or unset")
		}
	}
	for _, a := range attrs {
		if !extProcAttribute.MatchString(a) {
			return fmt.Errorf("attribute %q is not one Envoy provides: it must start with connection., source., destination., request., response., upstream. or xds.route_", a)
		}
	}
	if md := e.Metadata; md != nil {
		if len(md.WritableNamespaces) > 8 {
			return fmt.Errorf("writableNamespaces may list at most 8 namespaces")
		}
		for _, ns := range md.WritableNamespaces {
			if strings.HasPrefix(ns, "envoy.filters.http") {
				return fmt.Errorf("writableNamespaces cannot contain well-known Envoy HTTP filter namespaces")
			}
		}
	}
	return nil
}

// applyExtProc gives a route the policy's processors. It reports whether
// the route must fail closed instead.
func applyExtProc(ep *extProcPolicy, r *ir.HTTPRoute) bool {
	if ep == nil {
		return false
	}
	if ep.failClosed {
		return true
	}
	if len(ep.procs) > 0 {
		if r.EnvoyExtensions == nil {
			r.EnvoyExtensions = &ir.EnvoyExtensionFeatures{}
		}
		r.EnvoyExtensions.ExtProcs = append([]ir.ExtProc(nil), ep.procs...)
	}
	return false
}
