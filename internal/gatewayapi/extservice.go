package gatewayapi

import (
	"errors"
	"fmt"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// External services are the backends Envoy Gateway's filters call rather
// than route to: ext_proc processors, ext_authz servers, remote JWKS. They
// are resolved the same way whatever calls them: Services and Backends
// (unix sockets included), weights and fallback, ReferenceGrants from the
// owning policy, and the BackendTLSPolicy of each backend, whose status
// gets the owning policy as ancestor. Messages are Envoy Gateway's.

// extServiceOwner is the policy an external service belongs to.
type extServiceOwner struct {
	kind, namespace, name string
}

// ancestor is the owner as a BackendTLSPolicy ancestor.
func (o extServiceOwner) ancestor() gwapiv1.ParentReference {
	return gwapiv1.ParentReference{
		Group: ptr(gwapiv1.Group(egv1a1.GroupName)), Kind: ptr(gwapiv1.Kind(o.kind)),
		Namespace: ptr(gwapiv1.Namespace(o.namespace)), Name: gwapiv1.ObjectName(o.name),
	}
}

// extService is a resolved external service.
type extService struct {
	// Destination is the cluster: named as the caller says, one setting
	// per backendRef (<cluster>/backend/<j>).
	Destination ir.RouteDestination
	// Authority is Envoy Gateway's :authority for the service:
	// <first ref name>.<its namespace>[:<port>].
	Authority string
}

// resolveExtService resolves the backends of an external service into the
// cluster named cluster, speaking protocol (GRPC for ext_proc and gRPC
// ext_authz, HTTP otherwise).
func (t *translation) resolveExtService(owner extServiceOwner, bc egv1a1.BackendCluster, cluster, protocol string) (*extService, error) {
	if bc.BackendRef != nil {
		return nil, errors.New("BackendRefs must be used, backendRef is not supported")
	}
	if len(bc.BackendRefs) == 0 {
		return nil, errors.New("backendRefs must name at least one backend")
	}
	out := &extService{Destination: ir.RouteDestination{Name: cluster}}
	kinds := map[string]bool{}
	for j, ref := range bc.BackendRefs {
		st, kind, err := t.extServiceSetting(owner, ref)
		if err != nil {
			return nil, err
		}
		kinds[kind] = true
		st.Name = fmt.Sprintf("%s/backend/%d", cluster, j)
		st.Protocol = protocol
		st.Weight = ptr(uint32(1))
		if ref.Weight != nil {
			st.Weight = ptr(uint32(*ref.Weight))
		}
		if ref.Fallback != nil && *ref.Fallback {
			st.Priority = ptr(uint32(1))
		}
		out.Destination.Settings = append(out.Destination.Settings, st)
	}
	if len(kinds) > 1 {
		return nil, errors.New("external service destinations having multiple endpoint types are not supported")
	}
	first := bc.BackendRefs[0]
	ns := owner.namespace
	if first.Namespace != nil && *first.Namespace != "" {
		ns = string(*first.Namespace)
	}
	out.Authority = fmt.Sprintf("%s.%s", first.Name, ns)
	if first.Port != nil {
		out.Authority += fmt.Sprintf(":%d", *first.Port)
	}
	return out, nil
}

// extServiceSetting resolves one backendRef; kind is its endpoint type
// (ip, fqdn or unix), which must be the same for every ref of a service.
func (t *translation) extServiceSetting(owner extServiceOwner, ref egv1a1.BackendRef) (*ir.DestinationSetting, string, error) {
	group, kind := "", "Service"
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	ns := owner.namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	name := string(ref.Name)
	if !t.index.refAllowed(egv1a1.GroupName, owner.kind, owner.namespace, group, kind, ns, name) {
		return nil, "", fmt.Errorf("backend ref to %s %s/%s not permitted by any ReferenceGrant", kind, ns, name)
	}
	var st *ir.DestinationSetting
	var tg btlsTarget
	endpointKind := "ip"
	switch {
	case group == "" && kind == "Service":
		svc := t.index.services[key(ns, name)]
		if svc == nil {
			return nil, "", fmt.Errorf("service %s/%s not found", ns, name)
		}
		if ref.Port == nil {
			return nil, "", errors.New("a valid port number corresponding to a port on the Service must be specified")
		}
		port := servicePort(svc, *ref.Port)
		if port == nil {
			return nil, "", fmt.Errorf("TCP Port %d not found on service %s/%s", *ref.Port, ns, name)
		}
		st = newServiceSetting(svc, port)
		if msg := t.serviceEndpoints(svc, port, st); msg != "" {
			return nil, "", errors.New(strings.TrimSuffix(msg, "."))
		}
		if st.AddressType != nil && *st.AddressType == "FQDN" {
			endpointKind = "fqdn"
		}
		tg = t.serviceTarget(ns, name, *ref.Port)
	case group == egv1a1.GroupName && kind == egv1a1.KindBackend:
		if !t.opts.EnableBackend {
			return nil, "", fmt.Errorf("resource %s of type Backend cannot be used since Backend is disabled in Envoy Gateway configuration", name)
		}
		info := t.backends[key(ns, name)]
		if info == nil {
			return nil, "", fmt.Errorf("backend %s/%s not found", ns, name)
		}
		if info.invalid != "" {
			return nil, "", fmt.Errorf("backend %s/%s is invalid: %s", ns, name, strings.TrimSuffix(info.invalid, "."))
		}
		var unix bool
		st, unix = backendDestination(info.obj)
		switch {
		case unix && unixEndpoints(st) < len(st.Endpoints):
			return nil, "", errors.New("external service destinations having multiple endpoint types are not supported")
		case unix:
			endpointKind = "unix"
		case *st.AddressType == "FQDN":
			endpointKind = "fqdn"
		case *st.AddressType == "Mixed":
			return nil, "", errors.New("external service destinations having multiple endpoint types are not supported")
		}
		tg = btlsTarget{kind: egv1a1.KindBackend, namespace: ns, name: name}
	default:
		return nil, "", fmt.Errorf("kind %s/%s is not supported for an external service: Service or Backend", group, kind)
	}
	anc := owner.ancestor()
	tls, err := t.backendTLSFor(tg, &anc)
	if err != nil {
		return nil, "", err
	}
	st.TLS = tls
	return st, endpointKind, nil
}

func unixEndpoints(st *ir.DestinationSetting) int {
	n := 0
	for _, ep := range st.Endpoints {
		if ep.Path != nil {
			n++
		}
	}
	return n
}
