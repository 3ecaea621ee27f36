package gatewayapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// extAuth builds a policy's external authorization with Envoy Gateway's
// checks and names: the service's cluster is
// securitypolicy/<ns>/<name>/extauth/0 (HTTP/2 for gRPC).
func (t *translation) extAuth(p *egv1a1.SecurityPolicy) (*ir.ExtAuth, error) {
	e := p.Spec.ExtAuth
	switch {
	case e.GRPC == nil && e.HTTP == nil:
		return nil, fmt.Errorf("one of grpc or http must be specified")
	case e.GRPC != nil && e.HTTP != nil:
		return nil, fmt.Errorf("only one of grpc or http can be specified")
	}
	out := &ir.ExtAuth{
		Name:             fmt.Sprintf("%s/%s/%s", securityPolicyIR, p.Namespace, p.Name),
		HeadersToExtAuth: e.HeadersToExtAuth,
		FailOpen:         e.FailOpen,
		RecomputeRoute:   e.RecomputeRoute,
	}
	if e.IncludeRouteMetadata != nil {
		out.IncludeRouteMetadata = *e.IncludeRouteMetadata
	}
	if e.BodyToExtAuth != nil {
		if e.BodyToExtAuth.MaxRequestBytes < 1 {
			return nil, fmt.Errorf("bodyToExtAuth.maxRequestBytes must be at least 1")
		}
		out.BodyToExtAuth = &ir.BodyToExtAuth{MaxRequestBytes: e.BodyToExtAuth.MaxRequestBytes}
	}
	if e.Timeout != nil {
		d, err := time.ParseDuration(string(*e.Timeout))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("timeout %q is not a positive duration", *e.Timeout)
		}
		out.Timeout = ptr(d.String())
	}
	if e.StatusOnError != nil {
		if http.StatusText(int(*e.StatusOnError)) == "" {
			return nil, fmt.Errorf("statusOnError %d is not an HTTP status", *e.StatusOnError)
		}
		out.StatusOnError = ptr(uint32(*e.StatusOnError))
	}
	exts, err := t.contextExtensions(p)
	if err != nil {
		return nil, err
	}
	out.ContextExtensions = exts
	spec := t.securityPolicyService(p, "extauth", 0, "GRPC")
	spec.authority = authorityOfBackend
	if e.GRPC != nil {
		svc, err := t.resolveExtService(spec, e.GRPC.BackendCluster)
		if err != nil {
			return nil, err
		}
		out.GRPC = &ir.GRPCExtAuthService{Destination: svc.Destination, Authority: svc.Authority}
		return out, nil
	}
	h := e.HTTP
	if h.Path != nil && h.PathOverride != nil {
		return nil, fmt.Errorf("only one of path or pathOverride can be specified")
	}
	spec.protocol = "HTTP"
	svc, err := t.resolveExtService(spec, h.BackendCluster)
	if err != nil {
		return nil, err
	}
	out.HTTP = &ir.HTTPExtAuthService{Destination: svc.Destination, Authority: svc.Authority, HeadersToBackend: h.HeadersToBackend}
	if h.Path != nil {
		out.HTTP.Path = *h.Path
	}
	if h.PathOverride != nil {
		out.HTTP.PathOverride = *h.PathOverride
	}
	return out, nil
}

// securityPolicyService is the spec of a SecurityPolicy's external service
// (part "extauth" or "jwt", the i-th of the policy): its cluster is
// securitypolicy/<ns>/<name>/<part>/<i>, the deprecated backendRef is
// accepted, and its BackendTLSPolicy gets the policy as ancestor.
func (t *translation) securityPolicyService(p *egv1a1.SecurityPolicy, part string, i int, protocol string) extServiceSpec {
	return extServiceSpec{
		owner:            extServiceOwner{kind: egv1a1.KindSecurityPolicy, namespace: p.Namespace, name: p.Name},
		cluster:          strings.ToLower(fmt.Sprintf("%s/%s/%s/%s/%d", securityPolicyIR, p.Namespace, p.Name, part, i)),
		protocol:         protocol,
		legacyBackendRef: true,
	}
}
