package gatewayapi

import (
	"fmt"
	"net/url"
	"sort"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// jwksConfigMapKey is where a ConfigMap holds a JWKS for localJWKS.
const jwksConfigMapKey = "jwks"

// jwt builds a policy's JWT settings with Envoy Gateway's checks; any
// error fails the policy's routes closed.
func (t *translation) jwt(p *egv1a1.SecurityPolicy) (*ir.JWT, error) {
	j := p.Spec.JWT
	out := &ir.JWT{AllowMissing: j.Optional != nil && *j.Optional}
	names := map[string]bool{}
	for i, jp := range j.Providers {
		if names[jp.Name] {
			return nil, fmt.Errorf("provider name %s must be unique", jp.Name)
		}
		names[jp.Name] = true
		ip, err := t.jwtProvider(p, i, &jp)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %v", jp.Name, err)
		}
		out.Providers = append(out.Providers, *ip)
	}
	if len(out.Providers) == 0 {
		return nil, fmt.Errorf("at least one provider is required")
	}
	return out, nil
}

func (t *translation) jwtProvider(p *egv1a1.SecurityPolicy, i int, jp *egv1a1.JWTProvider) (*ir.JWTProvider, error) {
	out := &ir.JWTProvider{Name: jp.Name, Issuer: jp.Issuer, Audiences: jp.Audiences, RecomputeRoute: jp.RecomputeRoute}
	for _, c := range jp.ClaimToHeaders {
		out.ClaimToHeaders = append(out.ClaimToHeaders, ir.ClaimToHeader{Header: c.Header, Claim: c.Claim})
	}
	if jp.RecomputeRoute != nil && *jp.RecomputeRoute && len(jp.ClaimToHeaders) == 0 {
		return nil, fmt.Errorf("recomputeRoute requires claimToHeaders")
	}
	if e := jp.ExtractFrom; e != nil {
		x := &ir.JWTExtractor{Cookies: e.Cookies, Params: e.Params}
		for _, h := range e.Headers {
			x.Headers = append(x.Headers, ir.JWTHeaderExtractor{Name: h.Name, ValuePrefix: h.ValuePrefix})
		}
		out.ExtractFrom = x
	}
	switch {
	case jp.RemoteJWKS == nil && jp.LocalJWKS == nil:
		return nil, fmt.Errorf("either remoteJWKS or localJWKS must be specified")
	case jp.RemoteJWKS != nil && jp.LocalJWKS != nil:
		return nil, fmt.Errorf("remoteJWKS and localJWKS cannot both be specified")
	case jp.LocalJWKS != nil:
		doc, err := t.localJWKS(p.Namespace, jp.LocalJWKS)
		if err != nil {
			return nil, fmt.Errorf("localJWKS: %v", err)
		}
		out.LocalJWKS = &doc
		return out, nil
	}
	r := jp.RemoteJWKS
	u, err := url.Parse(r.URI)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("remoteJWKS uri %q is not an http or https URL", r.URI)
	}
	// Envoy Gateway's CRD default.
	rj := &ir.RemoteJWKS{URI: r.URI, CacheDuration: ptr("300s")}
	if r.CacheDuration != nil {
		if _, err := time.ParseDuration(string(*r.CacheDuration)); err != nil {
			return nil, fmt.Errorf("remoteJWKS cacheDuration %q: %v", *r.CacheDuration, err)
		}
		rj.CacheDuration = ptr(string(*r.CacheDuration))
	}
	if r.BackendRef != nil || len(r.BackendRefs) > 0 {
		svc, err := t.resolveExtService(t.securityPolicyService(p, "jwt", i, "HTTP"), r.BackendCluster)
		if err != nil {
			return nil, fmt.Errorf("remoteJWKS: %v", err)
		}
		// An https URI is fetched over TLS: a backend without a
		// BackendTLSPolicy trusts the system CAs for the URI's host.
		if u.Scheme == "https" {
			for _, st := range svc.Destination.Settings {
				if st.TLS == nil {
					st.TLS = &ir.TLSUpstreamConfig{SNI: ptr(u.Hostname()), UseSystemTrustStore: true}
				}
			}
		}
		rj.Destination = &svc.Destination
	}
	out.RemoteJWKS = rj
	return out, nil
}

// localJWKS is the inline document or the ConfigMap's "jwks" key (else
// its only key).
func (t *translation) localJWKS(ns string, l *egv1a1.LocalJWKS) (string, error) {
	if l.Type == nil || *l.Type == "Inline" {
		if l.Inline == nil {
			return "", fmt.Errorf("type Inline needs inline")
		}
		return *l.Inline, nil
	}
	ref := l.ValueRef
	if ref == nil {
		return "", fmt.Errorf("type ValueRef needs valueRef")
	}
	if ref.Kind != "ConfigMap" || (ref.Group != "" && ref.Group != "v1" && ref.Group != "core") {
		return "", fmt.Errorf("valueRef %s %s: only ConfigMap is supported", ref.Kind, ref.Name)
	}
	for _, cm := range t.in.ConfigMaps {
		if cm.Namespace != ns || cm.Name != string(ref.Name) {
			continue
		}
		if doc, ok := cm.Data[jwksConfigMapKey]; ok {
			return doc, nil
		}
		if len(cm.Data) == 1 {
			for _, v := range cm.Data {
				return v, nil
			}
		}
		keys := make([]string, 0, len(cm.Data))
		for k := range cm.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "", fmt.Errorf("ConfigMap %s/%s has no %q key (keys: %v)", ns, ref.Name, jwksConfigMapKey, keys)
	}
	return "", fmt.Errorf("ConfigMap %s/%s not found", ns, ref.Name)
}
