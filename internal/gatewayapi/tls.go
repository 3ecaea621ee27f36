package gatewayapi

import (
	"crypto/tls"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/status/conditions"
)

// listenerTLS resolves an HTTPS listener's certificateRefs. It returns false
// (and sets ResolvedRefs=False) when the listener cannot terminate TLS; such
// a listener is not programmed, so it can never serve with a wrong
// certificate.
func (t *translation) listenerTLS(lc *listenerContext) (*ir.TLSConfig, bool) {
	gw := lc.gateway.gw
	fail := func(reason gwapiv1.ListenerConditionReason, format string, args ...any) (*ir.TLSConfig, bool) {
		lc.status.Conditions = conditions.Set(lc.status.Conditions, newCondition(
			string(gwapiv1.ListenerConditionResolvedRefs), "False", string(reason), fmt.Sprintf(format, args...), gw.Generation))
		return nil, false
	}
	l := lc.spec
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		return fail(gwapiv1.ListenerReasonInvalidCertificateRef, "Listener must have TLS certificateRefs set for protocol %s.", l.Protocol)
	}
	if l.TLS.Mode != nil && *l.TLS.Mode != gwapiv1.TLSModeTerminate {
		return fail(gwapiv1.ListenerReasonInvalidCertificateRef, "TLS mode %s is not supported for protocol HTTPS; use Terminate.", *l.TLS.Mode)
	}
	cfg := &ir.TLSConfig{AlpnProtocols: []string{"h2", "http/1.1"}}
	for _, ref := range l.TLS.CertificateRefs {
		group, kind := "", "Secret"
		if ref.Group != nil {
			group = string(*ref.Group)
		}
		if ref.Kind != nil {
			kind = string(*ref.Kind)
		}
		if group != "" || kind != "Secret" {
			return fail(gwapiv1.ListenerReasonInvalidCertificateRef, "Certificate reference %s/%s is not supported; only core Secrets are.", group, kind)
		}
		ns := gw.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		if !t.index.refAllowed(gwapiv1.GroupName, "Gateway", gw.Namespace, "", "Secret", ns, string(ref.Name)) {
			return fail(gwapiv1.ListenerReasonRefNotPermitted,
				"Certificate ref to secret %s/%s not permitted by any ReferenceGrant.", ns, ref.Name)
		}
		secret := t.index.secrets[key(ns, string(ref.Name))]
		if secret == nil {
			return fail(gwapiv1.ListenerReasonInvalidCertificateRef, "Secret %s/%s does not exist.", ns, ref.Name)
		}
		crt, keyPEM := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
		if len(crt) == 0 || len(keyPEM) == 0 {
			return fail(gwapiv1.ListenerReasonInvalidCertificateRef,
				"Secret %s/%s must contain %s and %s.", ns, ref.Name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
		}
		// Parse the pair so a broken certificate is a status here, not a
		// proxy that rejects the whole listener later. The error text never
		// includes key material.
		if _, err := tls.X509KeyPair(crt, keyPEM); err != nil {
			return fail(gwapiv1.ListenerReasonInvalidCertificateRef,
				"Secret %s/%s does not hold a valid TLS certificate and key: %v.", ns, ref.Name, err)
		}
		cfg.Certificates = append(cfg.Certificates, ir.TLSCertificate{
			Name:        ns + "/" + string(ref.Name),
			Certificate: crt,
			PrivateKey:  keyPEM,
		})
	}
	return cfg, true
}
