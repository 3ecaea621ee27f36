package gatewayapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// authorization builds a policy's ordered rules. A JWT condition needs a
// provider of the same policy (its claims come from that provider's
// verified token).
func authorization(p *egv1a1.SecurityPolicy) (*ir.Authorization, error) {
	a := p.Spec.Authorization
	out := &ir.Authorization{DefaultAction: "Deny"}
	if a.DefaultAction != nil {
		out.DefaultAction = string(*a.DefaultAction)
	}
	for i, r := range a.Rules {
		rule, err := authorizationRule(p, i, &r)
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %v", i, err)
		}
		out.Rules = append(out.Rules, rule)
	}
	return out, nil
}

func authorizationRule(p *egv1a1.SecurityPolicy, i int, r *egv1a1.AuthorizationRule) (*ir.AuthorizationRule, error) {
	out := &ir.AuthorizationRule{Name: fmt.Sprintf("%s/%s/%s/authorization/rule/%d", securityPolicyIR, p.Namespace, p.Name, i),
		Action: string(r.Action)}
	if r.Name != nil && *r.Name != "" {
		out.Name = *r.Name
	}
	if r.Operation != nil {
		var op struct {
			Methods []string `json:"methods"`
		}
		if err := strictJSON(r.Operation.Raw, &op); err != nil {
			return nil, fmt.Errorf("operation: %v", err)
		}
		out.Operation = &ir.Operation{Methods: op.Methods}
	}
	pr := r.Principal
	if len(pr.ClientIPGeoLocations) > 0 {
		return nil, fmt.Errorf("principal.clientIPGeoLocations is not supported")
	}
	for _, c := range append(append([]string(nil), pr.ClientCIDRs...), pr.SourceCIDRs...) {
		prefix, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("clientCIDRs: %q is not a CIDR", c)
		}
		out.Principal.ClientCIDRs = append(out.Principal.ClientCIDRs, &ir.CIDRMatch{CIDR: c,
			IP: prefix.Addr().String(), MaskLen: uint32(prefix.Bits()), IsIPv6: prefix.Addr().Is6()})
	}
	if j := pr.JWT; j != nil {
		if !hasJWTProvider(p, j.Provider) {
			return nil, fmt.Errorf("the JWT provider %s is not configured in this policy's jwt", j.Provider)
		}
		jp := &ir.JWTPrincipal{Provider: j.Provider, Scopes: j.Scopes}
		for _, c := range j.Claims {
			jp.Claims = append(jp.Claims, ir.JWTClaim{Name: c.Name, ValueType: c.ValueType, Values: c.Values})
		}
		out.Principal.JWT = jp
	}
	for _, h := range pr.Headers {
		var hm struct {
			Name   string   `json:"name"`
			Values []string `json:"values"`
		}
		if err := strictJSON(h.Raw, &hm); err != nil {
			return nil, fmt.Errorf("principal.headers: %v", err)
		}
		if hm.Name == "" || len(hm.Values) == 0 {
			return nil, fmt.Errorf("principal.headers: a header needs a name and values")
		}
		out.Principal.Headers = append(out.Principal.Headers, &ir.HeaderMatch{Name: hm.Name, Values: hm.Values})
	}
	if len(out.Principal.ClientCIDRs) == 0 && out.Principal.JWT == nil && len(out.Principal.Headers) == 0 {
		return nil, fmt.Errorf("the principal needs clientCIDRs, jwt or headers")
	}
	return out, nil
}

func hasJWTProvider(p *egv1a1.SecurityPolicy, name string) bool {
	if p.Spec.JWT == nil {
		return false
	}
	for _, jp := range p.Spec.JWT.Providers {
		if jp.Name == name {
			return true
		}
	}
	return false
}

// strictJSON decodes raw JSON, rejecting fields the struct does not know
// (a field Portico would otherwise ignore).
func strictJSON(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
