package gatewayapi

import (
	"fmt"
	"strings"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// Image URLs as Envoy Gateway writes them.
const (
	ociPrefix = "oci://"
	// dockerConfigJSONKey is where a kubernetes.io/dockerconfigjson
	// Secret holds the docker config.
	dockerConfigJSONKey = ".dockerconfigjson"
)

// imageCodeOf resolves an Image code source: the URL as Envoy Gateway
// completes it, the expected manifest digest (sha256, else an @sha256:
// URL's), the CA and the pull secret.
func (l refLookup) imageCodeOf(p *egv1a1.EnvoyExtensionPolicy, w egv1a1.Wasm) (WasmCode, error) {
	im := w.Code.Image
	if im == nil {
		return WasmCode{}, fmt.Errorf("if type is Image, image field needs to be set")
	}
	c := WasmCode{URL: imageURL(im.URL), Image: true}
	if im.SHA256 != nil {
		c.SHA256 = *im.SHA256
	} else if _, d, ok := strings.Cut(c.URL, "@sha256:"); ok {
		c.SHA256 = d
	}
	// Without a checksum, Always pulls again when the policy changes;
	// unset, a :latest image is pulled as Always, any other as
	// IfNotPresent (Envoy Gateway's rule).
	pp := w.Code.PullPolicy
	always := pp != nil && *pp == egv1a1.ImagePullPolicyAlways
	if pp == nil && c.SHA256 == "" && strings.HasSuffix(c.URL, ":latest") {
		always = true
	}
	if always {
		c.PullVersion = pullVersion(p)
	}
	if im.TLS != nil {
		ca, err := l.caCertificate(p, im.TLS)
		if err != nil {
			return WasmCode{}, err
		}
		c.CACert = ca
	}
	if im.PullSecretRef != nil {
		secret, err := l.pullSecret(p, im)
		if err != nil {
			return WasmCode{}, err
		}
		c.PullSecret = secret
	}
	return c, nil
}

// imageURL prefixes oci:// when missing and appends :latest when the URL
// has neither a digest nor a tag (a colon followed by a path is a
// registry port, not a tag).
func imageURL(u string) string {
	if !strings.HasPrefix(u, ociPrefix) {
		u = ociPrefix + u
	}
	if strings.Contains(u, "@") {
		return u
	}
	rest := u[len(ociPrefix):]
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		return u
	}
	return u + ":latest"
}

// pullVersion is what changes when the policy is edited.
func pullVersion(p *egv1a1.EnvoyExtensionPolicy) string {
	if p.ResourceVersion != "" {
		return p.ResourceVersion
	}
	return fmt.Sprint(p.Generation)
}

// pullSecret reads the docker config of image.pullSecretRef, a Secret in
// the policy's namespace or one a ReferenceGrant opens to it.
func (l refLookup) pullSecret(p *egv1a1.EnvoyExtensionPolicy, im *egv1a1.ImageWasmCodeSource) (string, error) {
	ref := im.PullSecretRef
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Secret") {
		return "", fmt.Errorf("pullSecretRef: only support Secret kind")
	}
	ns := p.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	if !l.ix.refAllowed(egv1a1.GroupName, egv1a1.KindEnvoyExtensionPolicy, p.Namespace, "", "Secret", ns, string(ref.Name)) {
		return "", fmt.Errorf("secret ref to %s/%s not permitted by any ReferenceGrant", ns, ref.Name)
	}
	s := l.ix.secrets[key(ns, string(ref.Name))]
	if s == nil {
		return "", fmt.Errorf("secret %s/%s does not exist", ns, ref.Name)
	}
	if b, ok := s.Data[dockerConfigJSONKey]; ok && len(b) > 0 {
		return string(b), nil
	}
	if v, ok := s.StringData[dockerConfigJSONKey]; ok && v != "" {
		return v, nil
	}
	return "", fmt.Errorf("missing %s key in secret %s/%s", dockerConfigJSONKey, ns, ref.Name)
}
