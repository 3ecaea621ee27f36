package gatewayapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
)

// WasmCode is one Wasm code source of a policy, as it must be fetched.
type WasmCode struct {
	// URL is the module's HTTP(S) URL, or for an image its oci:// URL
	// with a tag or a digest.
	URL string
	// SHA256 is the checksum the policy declares ("" when it has none):
	// of the module for HTTP, of the image manifest for an image.
	SHA256 string
	// CACert is the PEM of tls.caCertificateRef ("" for the system roots).
	CACert string
	// PullVersion is set for pullPolicy Always: the policy's version, so
	// that an edit of the policy downloads the module again.
	PullVersion string
	// Image marks code.type Image.
	Image bool
	// PullSecret is the .dockerconfigjson of image.pullSecretRef ("" for
	// anonymous pulls). It is a credential: String leaves it out.
	PullSecret string
}

// String describes the code without its pull secret, so that a code
// printed by mistake leaks no credential.
func (c WasmCode) String() string {
	s := c.URL
	if c.SHA256 != "" {
		s += " sha256 " + c.SHA256
	}
	if c.PullSecret != "" {
		s += " (with a pull secret)"
	}
	return s
}

// GoString is String, for %#v.
func (c WasmCode) GoString() string { return c.String() }

// WasmModule is a fetched module as proxies get it.
type WasmModule struct {
	// ServingURL is where the control plane's wasm server serves it.
	ServingURL string
	// SHA256 is the hex sha256 of the module's bytes.
	SHA256 string
}

// WasmModules resolves code sources to fetched modules. Translation only
// looks modules up: the caller fetches them first (internal/wasm), so the
// translator does no I/O and its output depends on its input alone.
type WasmModules interface {
	WasmModule(c WasmCode) (WasmModule, error)
}

// WasmModuleFunc adapts a function to WasmModules.
type WasmModuleFunc func(c WasmCode) (WasmModule, error)

// WasmModule calls f.
func (f WasmModuleFunc) WasmModule(c WasmCode) (WasmModule, error) { return f(c) }

// wasmCAKey is where a CA ConfigMap or Secret holds the certificate.
const wasmCAKey = "ca.crt"

// builtWasm is one wasm[] entry after resolution.
type builtWasm struct {
	wasm ir.Wasm
	err  string // "" when the entry built
}

// wasmPolicy is the Wasm part of one policy.
type wasmPolicy struct {
	entries []builtWasm
}

// errs are the policy's Wasm errors.
func (wp *wasmPolicy) errs() []string {
	if wp == nil {
		return nil
	}
	var out []string
	for _, e := range wp.entries {
		if e.err != "" {
			out = append(out, e.err)
		}
	}
	return out
}

// fatal reports whether a failing entry lacks failOpen: then the routes
// cannot run without it and answer 500. When every failing entry has
// failOpen the routes keep the entries that built, as Envoy Gateway does.
func (wp *wasmPolicy) fatal() bool {
	if wp == nil {
		return false
	}
	for _, e := range wp.entries {
		if e.err != "" && !e.wasm.FailOpen {
			return true
		}
	}
	return false
}

// buildWasmPolicy resolves every wasm[] entry of a policy against the
// fetched modules.
func (t *translation) buildWasmPolicy(p *egv1a1.EnvoyExtensionPolicy) *wasmPolicy {
	if len(p.Spec.Wasm) == 0 {
		return nil
	}
	wp := &wasmPolicy{}
	for i, w := range p.Spec.Wasm {
		name := fmt.Sprintf("%s/%s/%s/wasm/%d", extensionPolicyIR, p.Namespace, p.Name, i)
		e := builtWasm{wasm: ir.Wasm{Name: name, WasmName: name, RootID: w.RootID}}
		if w.Name != nil && *w.Name != "" {
			e.wasm.WasmName = *w.Name
		}
		if w.FailOpen != nil {
			e.wasm.FailOpen = *w.FailOpen
		}
		if w.Config != nil && len(w.Config.Raw) > 0 && string(w.Config.Raw) != "null" {
			e.wasm.Config = json.RawMessage(w.Config.Raw)
		}
		if w.Env != nil {
			e.wasm.HostKeys = w.Env.HostKeys
		}
		code, err := wasmCodeOf(newIndexLookup(t), p, w)
		if err == nil {
			e.wasm.Code, err = t.fetchedModule(code)
		}
		if err != nil {
			e.err = wasmMessage(err)
		}
		wp.entries = append(wp.entries, e)
	}
	return wp
}

// fetchedModule looks a code source up among the fetched modules.
func (t *translation) fetchedModule(c WasmCode) (*ir.HTTPWasmCode, error) {
	if t.opts.Wasm == nil {
		return nil, fmt.Errorf("wasm module from %s was not fetched: no Wasm module source is configured", c.URL)
	}
	m, err := t.opts.Wasm.WasmModule(c)
	if err != nil {
		return nil, err
	}
	return &ir.HTTPWasmCode{ServingURL: m.ServingURL, OriginalURL: c.URL, SHA256: m.SHA256}, nil
}

// wasmMessage is Envoy Gateway's status text for a Wasm error: "Wasm: "
// and the error with its first letter upper-cased and a period.
func wasmMessage(err error) string {
	s := err.Error()
	if s != "" {
		r := []rune(s)
		r[0] = unicode.ToUpper(r[0])
		s = string(r)
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return "Wasm: " + s
}

// applyWasm puts the policy's built Wasm entries on the route and reports
// whether the route must fail instead (a failing entry without failOpen).
func applyWasm(st *eepState, r *ir.HTTPRoute) (fatal bool) {
	wp := st.wasm
	if wp == nil {
		return false
	}
	if wp.fatal() {
		return true
	}
	var built []ir.Wasm
	for _, e := range wp.entries {
		if e.err == "" {
			built = append(built, e.wasm)
		}
	}
	if len(built) == 0 {
		return false
	}
	if r.EnvoyExtensions == nil {
		r.EnvoyExtensions = &ir.EnvoyExtensionFeatures{}
	}
	r.EnvoyExtensions.Wasms = built
	return false
}

// refLookup finds the objects a Wasm code source refers to.
type refLookup struct {
	in *resource.Set
	ix *index
}

func newIndexLookup(t *translation) refLookup { return refLookup{in: t.in, ix: t.index} }

// WasmCodes lists the HTTP code sources of every policy in the set that
// a translation of it will look up, so the caller can fetch them first.
// Entries that cannot be resolved are left out (translation reports them).
func WasmCodes(in *resource.Set) []WasmCode {
	look := refLookup{in: in, ix: newIndex(in)}
	var out []WasmCode
	seen := map[WasmCode]bool{}
	for _, p := range in.EnvoyExtensionPolicies {
		for _, w := range p.Spec.Wasm {
			c, err := wasmCodeOf(look, p, w)
			if err != nil || seen[c] {
				continue
			}
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// wasmCodeOf resolves one entry's code source.
func wasmCodeOf(look refLookup, p *egv1a1.EnvoyExtensionPolicy, w egv1a1.Wasm) (WasmCode, error) {
	switch w.Code.Type {
	case egv1a1.HTTPWasmCodeSourceType:
	case egv1a1.ImageWasmCodeSourceType:
		return look.imageCodeOf(p, w)
	default:
		return WasmCode{}, fmt.Errorf("code type %s is not supported", w.Code.Type)
	}
	h := w.Code.HTTP
	if h == nil {
		return WasmCode{}, fmt.Errorf("if type is HTTP, http field needs to be set")
	}
	c := WasmCode{URL: h.URL}
	if h.SHA256 != nil {
		c.SHA256 = *h.SHA256
	}
	if pp := w.Code.PullPolicy; pp != nil && *pp == egv1a1.ImagePullPolicyAlways {
		c.PullVersion = p.ResourceVersion
		if c.PullVersion == "" {
			c.PullVersion = fmt.Sprint(p.Generation)
		}
	}
	if h.TLS != nil {
		ca, err := look.caCertificate(p, h.TLS)
		if err != nil {
			return WasmCode{}, err
		}
		c.CACert = ca
	}
	return c, nil
}

// caCertificate reads tls.caCertificateRef (a ConfigMap or Secret, key
// ca.crt); another namespace needs a ReferenceGrant.
func (l refLookup) caCertificate(p *egv1a1.EnvoyExtensionPolicy, tls *egv1a1.WasmCodeSourceTLSConfig) (string, error) {
	ref := tls.CACertificateRef
	kind := "Secret"
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	ns := p.Namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if !l.ix.refAllowed(egv1a1.GroupName, "EnvoyExtensionPolicy", p.Namespace, "", kind, ns, string(ref.Name)) {
		return "", fmt.Errorf("%s %s/%s is in another namespace and no ReferenceGrant allows it", kind, ns, ref.Name)
	}
	var data map[string]string
	found := false
	switch kind {
	case "ConfigMap":
		for _, cm := range l.in.ConfigMaps {
			if cm.Namespace == ns && cm.Name == string(ref.Name) {
				data, found = cm.Data, true
			}
		}
	case "Secret":
		for _, s := range l.in.Secrets {
			if s.Namespace == ns && s.Name == string(ref.Name) {
				data, found = map[string]string{}, true
				for k, v := range s.Data {
					data[k] = string(v)
				}
				for k, v := range s.StringData {
					data[k] = v
				}
			}
		}
	default:
		return "", fmt.Errorf("caCertificateRef kind %s is not supported: use a ConfigMap or a Secret", kind)
	}
	if !found {
		return "", fmt.Errorf("%s %s/%s not found", strings.ToLower(kind), ns, ref.Name)
	}
	ca, ok := data[wasmCAKey]
	if !ok || ca == "" {
		return "", fmt.Errorf("%s %s/%s has no %s", strings.ToLower(kind), ns, ref.Name, wasmCAKey)
	}
	return ca, nil
}
