package gatewayapi

import (
	"errors"
	"fmt"
	"net"
	"strconv"
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
	// Authority is the :authority Envoy Gateway gives the service (see
	// authorityRule).
	Authority string
}

// authorityRule is how Envoy Gateway derives a service's :authority from
// its first backendRef, which differs between its callers.
type authorityRule int

const (
	// authorityOfRef (ext_proc): <name>.<namespace>[:<port>] of the ref.
	authorityOfRef authorityRule = iota
	// authorityOfBackend (ext_authz): a Service's <name>.<namespace>:<port>,
	// a Backend's first FQDN endpoint as <hostname>:<port>, else (unix or
	// IP endpoints) <name>.<namespace>.
	authorityOfBackend
)

// extServiceSpec is what a caller asks of resolveExtService.
type extServiceSpec struct {
	owner extServiceOwner
	// cluster names the cluster (Envoy Gateway's
	// <policy kind>/<ns>/<policy>/<part>/<i>, lower-cased).
	cluster string
	// protocol is the settings' protocol: GRPC (HTTP/2) for gRPC
	// services, HTTP otherwise (a backend that speaks h2c keeps HTTP2).
	protocol  string
	authority authorityRule
	// legacyBackendRef accepts the deprecated single backendRef (used when
	// backendRefs is empty), as SecurityPolicy's services do; ext_proc's
	// CRD refuses it.
	legacyBackendRef bool
}

// resolveExtService resolves the backends of an external service into the
// cluster the spec names.
func (t *translation) resolveExtService(spec extServiceSpec, bc egv1a1.BackendCluster) (*extService, error) {
	refs, err := extServiceRefs(bc, spec.legacyBackendRef)
	if err != nil {
		return nil, err
	}
	out := &extService{Destination: ir.RouteDestination{Name: spec.cluster}}
	kinds := map[string]bool{}
	for j, ref := range refs {
		st, kind, err := t.extServiceSetting(spec.owner, ref)
		if err != nil {
			return nil, err
		}
		kinds[kind] = true
		st.Name = fmt.Sprintf("%s/backend/%d", spec.cluster, j)
		if spec.protocol != "HTTP" || st.Protocol != "HTTP2" {
			st.Protocol = spec.protocol
		}
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
	out.Authority = t.extServiceAuthority(spec, refs[0])
	return out, nil
}

// extServiceRefs are the backendRefs of a service; with legacy, the
// deprecated backendRef stands in when backendRefs is empty.
func extServiceRefs(bc egv1a1.BackendCluster, legacy bool) ([]egv1a1.BackendRef, error) {
	switch {
	case len(bc.BackendRefs) > 0 && (legacy || bc.BackendRef == nil):
		return bc.BackendRefs, nil
	case !legacy && bc.BackendRef != nil:
		return nil, errors.New("BackendRefs must be used, backendRef is not supported")
	case !legacy:
		return nil, errors.New("backendRefs must name at least one backend")
	case bc.BackendRef != nil:
		return []egv1a1.BackendRef{{BackendObjectReference: *bc.BackendRef}}, nil
	}
	return nil, errors.New("backendRef or backendRefs needs to be set")
}

// extServiceAuthority is the service's :authority by the spec's rule.
func (t *translation) extServiceAuthority(spec extServiceSpec, first egv1a1.BackendRef) string {
	ns := spec.owner.namespace
	if first.Namespace != nil && *first.Namespace != "" {
		ns = string(*first.Namespace)
	}
	byName := fmt.Sprintf("%s.%s", first.Name, ns)
	if spec.authority == authorityOfBackend && first.Kind != nil && string(*first.Kind) == egv1a1.KindBackend {
		if info := t.backends[key(ns, string(first.Name))]; info != nil {
			for _, ep := range info.obj.Spec.Endpoints {
				if ep.FQDN != nil {
					return net.JoinHostPort(ep.FQDN.Hostname, strconv.Itoa(int(ep.FQDN.Port)))
				}
			}
		}
		return byName
	}
	if first.Port != nil {
		return fmt.Sprintf("%s:%d", byName, *first.Port)
	}
	return byName
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
