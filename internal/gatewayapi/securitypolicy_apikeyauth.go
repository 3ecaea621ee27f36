package gatewayapi

import (
	"fmt"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// apiKeyAuthSpec is SecurityPolicy apiKeyAuth (kept as raw JSON in the API
// types): Secrets whose keys are client ids and values their API keys, and
// where requests carry the key.
type apiKeyAuthSpec struct {
	CredentialRefs []gwapiv1.SecretObjectReference `json:"credentialRefs"`
	ExtractFrom    []struct {
		Headers []string `json:"headers,omitempty"`
		Params  []string `json:"params,omitempty"`
		Cookies []string `json:"cookies,omitempty"`
	} `json:"extractFrom"`
	ForwardClientIDHeader *string `json:"forwardClientIDHeader,omitempty"`
	Sanitize              *bool   `json:"sanitize,omitempty"`
}

func (t *translation) apiKeyAuth(p *egv1a1.SecurityPolicy) (*ir.APIKeyAuth, error) {
	var spec apiKeyAuthSpec
	if err := strictJSON(p.Spec.APIKeyAuth.Raw, &spec); err != nil {
		return nil, err
	}
	if len(spec.CredentialRefs) == 0 || len(spec.ExtractFrom) == 0 {
		return nil, fmt.Errorf("credentialRefs and extractFrom are required")
	}
	out := &ir.APIKeyAuth{Name: fmt.Sprintf("%s/%s/%s", securityPolicyIR, p.Namespace, p.Name),
		Credentials: map[string][]byte{}, ForwardClientIDHeader: spec.ForwardClientIDHeader, Sanitize: spec.Sanitize}
	keys := map[string]bool{}
	for _, ref := range spec.CredentialRefs {
		if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Secret") {
			return nil, fmt.Errorf("credentialRefs must reference Secrets")
		}
		ns := p.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		if !t.index.refAllowed(egv1a1.GroupName, egv1a1.KindSecurityPolicy, p.Namespace, "", "Secret", ns, string(ref.Name)) {
			return nil, fmt.Errorf("secret ref to %s/%s not permitted by any ReferenceGrant", ns, ref.Name)
		}
		s := t.index.secrets[key(ns, string(ref.Name))]
		if s == nil {
			return nil, fmt.Errorf("secret %s/%s does not exist", ns, ref.Name)
		}
		for client, k := range s.Data {
			if keys[string(k)] {
				return nil, fmt.Errorf("duplicated API key")
			}
			keys[string(k)] = true
			out.Credentials[client] = k
		}
	}
	for i, e := range spec.ExtractFrom {
		n := 0
		for _, l := range [][]string{e.Headers, e.Params, e.Cookies} {
			if len(l) > 0 {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("extractFrom[%d] must set exactly one of headers, params and cookies", i)
		}
		out.ExtractFrom = append(out.ExtractFrom, &ir.ExtractFrom{Headers: e.Headers, Params: e.Params, Cookies: e.Cookies})
	}
	return out, nil
}
