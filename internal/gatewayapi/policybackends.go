package gatewayapi

import (
	"fmt"
	"strconv"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// A policy's external service (ext_authz, a JWKS server, ...) is a
// cluster of its backendRefs: Services, or Backends including unix-socket
// endpoints, which only external services may use (a route backendRef
// with one is rejected, in backendSetting). Cross-namespace references
// need a ReferenceGrant from the policy's kind.

// policyBackend resolves a BackendCluster to a destination named cluster,
// with the authority Envoy Gateway gives it: a Service's
// "<name>.<ns>:<port>", a Backend FQDN's "<hostname>:<port>", another
// Backend's "<name>.<ns>". protocol is the settings' protocol ("GRPC" for
// gRPC services, which makes the cluster HTTP/2).
func (t *translation) policyBackend(kind, ns, cluster, protocol string, bc *egv1a1.BackendCluster) (*ir.RouteDestination, string, error) {
	refs := append([]egv1a1.BackendRef(nil), bc.BackendRefs...)
	if bc.BackendRef != nil {
		refs = append([]egv1a1.BackendRef{{BackendObjectReference: *bc.BackendRef}}, refs...)
	}
	if len(refs) == 0 {
		return nil, "", fmt.Errorf("backendRef or backendRefs needs to be set")
	}
	dest := &ir.RouteDestination{Name: cluster}
	var authority string
	for i, r := range refs {
		st, auth, err := t.policyBackendSetting(kind, ns, r)
		if err != nil {
			return nil, "", err
		}
		st.Name = fmt.Sprintf("%s/backend/%d", cluster, i)
		st.Protocol = protocol
		w := uint32(1)
		if r.Weight != nil {
			w = uint32(*r.Weight)
		}
		st.Weight = &w
		if i == 0 {
			authority = auth
		}
		dest.Settings = append(dest.Settings, st)
	}
	return dest, authority, nil
}

func (t *translation) policyBackendSetting(kind, ns string, r egv1a1.BackendRef) (*ir.DestinationSetting, string, error) {
	group, rkind := "", "Service"
	if r.Group != nil {
		group = string(*r.Group)
	}
	if r.Kind != nil {
		rkind = string(*r.Kind)
	}
	tns := ns
	if r.Namespace != nil && *r.Namespace != "" {
		tns = string(*r.Namespace)
	}
	if !t.index.refAllowed(egv1a1.GroupName, kind, ns, group, rkind, tns, string(r.Name)) {
		return nil, "", fmt.Errorf("backend ref to %s %s/%s not permitted by any ReferenceGrant", rkind, tns, r.Name)
	}
	var probs ruleProblems
	br := gwapiv1.BackendRef{BackendObjectReference: r.BackendObjectReference}
	switch {
	case group == "" && rkind == "Service":
		st := t.serviceSetting(tns, br, &probs)
		if st == nil {
			return nil, "", problemError(&probs)
		}
		return st, fmt.Sprintf("%s.%s:%d", r.Name, tns, *r.Port), nil
	case group == egv1a1.GroupName && rkind == egv1a1.KindBackend:
		return t.externalBackendSetting(tns, string(r.Name))
	}
	return nil, "", fmt.Errorf("kind %s/%s is not supported as a backend", group, rkind)
}

// externalBackendSetting resolves a Backend for an external service:
// unix endpoints are allowed here.
func (t *translation) externalBackendSetting(ns, name string) (*ir.DestinationSetting, string, error) {
	b, _, err := t.lookupBackend(ns, name)
	if err != nil {
		return nil, "", err
	}
	eps, addrType, _ := backendEndpoints(b)
	st := &ir.DestinationSetting{Endpoints: eps, AddressType: ptr(addrType),
		Metadata: &ir.ResourceMetadata{Kind: egv1a1.KindBackend, Name: b.Name, Namespace: b.Namespace}}
	authority := name + "." + ns
	if ep := b.Spec.Endpoints[0]; ep.FQDN != nil {
		authority = ep.FQDN.Hostname + ":" + strconv.Itoa(int(ep.FQDN.Port))
	}
	return st, authority, nil
}

func problemError(p *ruleProblems) error {
	msgs := append(append([]string(nil), p.refMsgs...), p.invalid...)
	return fmt.Errorf("%s", strings.TrimSuffix(strings.Join(msgs, " "), "."))
}
