package gatewayapi

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
)

// caKeys are where a ConfigMap or Secret holds a CA bundle, in Envoy
// Gateway's order of preference; failing both, the only key is used.
var caKeys = []string{"ca.crt", "tls.crt"}

// validateBackendTLS turns a policy's validation block into the upstream
// TLS settings, or records why it cannot (p.tls stays nil: its backends
// fail closed). The CRD's CEL rules are checked here with their messages,
// since Portico's loader does not evaluate CEL.
func (t *translation) validateBackendTLS(p *btlsPolicy) {
	v := p.obj.Spec.Validation
	invalid := func(reason, refReason, msg string) {
		p.reason, p.refReason, p.msg = reason, refReason, msg
	}
	hasRefs, hasWellKnown := len(v.CACertificateRefs) > 0, v.WellKnownCACertificates != nil && *v.WellKnownCACertificates != ""
	switch {
	case hasRefs && hasWellKnown:
		invalid(string(gwapiv1.PolicyReasonInvalid), "", "must not contain both CACertificateRefs and WellKnownCACertificates")
		return
	case !hasRefs && !hasWellKnown:
		invalid(string(gwapiv1.PolicyReasonInvalid), "", "must specify either CACertificateRefs or WellKnownCACertificates")
		return
	case hasWellKnown && *v.WellKnownCACertificates != gwapiv1.WellKnownCACertificatesSystem:
		invalid(string(gwapiv1.PolicyReasonInvalid), "",
			fmt.Sprintf("wellKnownCACertificates %q is not supported: only System is", *v.WellKnownCACertificates))
		return
	}
	cfg := &ir.TLSUpstreamConfig{UseSystemTrustStore: hasWellKnown}
	if v.Hostname != "" {
		cfg.SNI = ptr(string(v.Hostname))
	}
	sans, err := subjectAltNames(v.SubjectAltNames)
	if err != nil {
		invalid(string(gwapiv1.PolicyReasonInvalid), "", err.Error())
		return
	}
	cfg.SubjectAltNames = sans
	if hasRefs {
		bundle, refReason, err := t.caBundle(p.obj.Namespace, v.CACertificateRefs)
		if err != nil {
			invalid(string(gwapiv1.BackendTLSPolicyReasonNoValidCACertificate), refReason, err.Error())
			return
		}
		// Envoy Gateway's name: policy name first, then namespace.
		cfg.CACertificate = &ir.TLSCACertificate{Name: fmt.Sprintf("%s/%s-ca", p.obj.Name, p.obj.Namespace), Certificate: bundle}
	}
	p.tls = cfg
}

func subjectAltNames(in []gwapiv1.SubjectAltName) ([]ir.SubjectAltName, error) {
	var out []ir.SubjectAltName
	for _, san := range in {
		switch san.Type {
		case gwapiv1.HostnameSubjectAltNameType:
			if san.Hostname == "" {
				return nil, fmt.Errorf("SubjectAltName element must contain Hostname, if Type is set to Hostname")
			}
			if san.URI != "" {
				return nil, fmt.Errorf("SubjectAltName element must not contain URI, if Type is not set to URI")
			}
			out = append(out, ir.SubjectAltName{Hostname: ptr(string(san.Hostname))})
		case gwapiv1.URISubjectAltNameType:
			if san.URI == "" {
				return nil, fmt.Errorf("SubjectAltName element must contain URI, if Type is set to URI")
			}
			if san.Hostname != "" {
				return nil, fmt.Errorf("SubjectAltName element must not contain Hostname, if Type is not set to Hostname")
			}
			out = append(out, ir.SubjectAltName{URI: ptr(string(san.URI))})
		default:
			return nil, fmt.Errorf("SubjectAltName type %q is not supported: Hostname or URI", san.Type)
		}
	}
	return out, nil
}

// caBundle concatenates the CA certificates of the references (ConfigMaps
// and Secrets of the policy's namespace). Any reference that is missing,
// of another kind, or holds no PEM certificate makes the whole policy
// invalid: a partial trust set is not what was asked for.
func (t *translation) caBundle(ns string, refs []gwapiv1.LocalObjectReference) ([]byte, string, error) {
	var parts []string
	for _, ref := range refs {
		kind := string(ref.Kind)
		if string(ref.Group) != "" || (kind != "ConfigMap" && kind != "Secret") {
			return nil, string(gwapiv1.BackendTLSPolicyReasonInvalidKind),
				fmt.Errorf("caCertificateRef %s/%s %s: only ConfigMap and Secret are supported", ref.Group, kind, ref.Name)
		}
		data, found := t.caSource(ns, kind, string(ref.Name))
		lower := strings.ToLower(kind)
		if !found {
			return nil, string(gwapiv1.BackendTLSPolicyReasonInvalidCACertificateRef),
				fmt.Errorf("%s %s not found in namespace %s", lower, ref.Name, ns)
		}
		ca, ok := pickCA(data)
		if !ok {
			return nil, string(gwapiv1.BackendTLSPolicyReasonInvalidCACertificateRef), fmt.Errorf("no ca found in %s %s", lower, ref.Name)
		}
		if err := checkPEMCertificates(ca); err != nil {
			return nil, string(gwapiv1.BackendTLSPolicyReasonInvalidCACertificateRef),
				fmt.Errorf("the CA certificate in %s %s is invalid: %v", lower, ref.Name, err)
		}
		parts = append(parts, strings.TrimRight(ca, "\n"))
	}
	return []byte(strings.Join(parts, "\n") + "\n"), "", nil
}

// caSource returns the data of a ConfigMap or Secret of ns.
func (t *translation) caSource(ns, kind, name string) (map[string]string, bool) {
	if kind == "ConfigMap" {
		for _, cm := range t.in.ConfigMaps {
			if cm.Namespace == ns && cm.Name == name {
				return cm.Data, true
			}
		}
		return nil, false
	}
	for _, s := range t.in.Secrets {
		if s.Namespace == ns && s.Name == name {
			out := make(map[string]string, len(s.Data))
			for k, v := range s.Data {
				out[k] = string(v)
			}
			return out, true
		}
	}
	return nil, false
}

func pickCA(data map[string]string) (string, bool) {
	for _, k := range caKeys {
		if v, ok := data[k]; ok {
			return v, true
		}
	}
	if len(data) == 1 {
		for _, v := range data {
			return v, true
		}
	}
	return "", false
}

// checkPEMCertificates accepts a bundle of one or more PEM certificates
// and nothing else (no keys, no stray text between blocks is checked).
func checkPEMCertificates(s string) error {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %q is not a CERTIFICATE", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate found")
	}
	return nil
}
