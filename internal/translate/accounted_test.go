package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/support"
)

// statusKinds are the kinds that carry a status; every loaded object of one
// must come back with one.
var statusKinds = map[string]bool{
	"EnvoyProxy": true, "Gateway": true, "HTTPRoute": true, "GRPCRoute": true, "TCPRoute": true, "TLSRoute": true, "UDPRoute": true,
	"ListenerSet": true, "BackendTLSPolicy": true, "SecurityPolicy": true, "EnvoyExtensionPolicy": true,
	"EnvoyPatchPolicy": true, "Backend": true, "GatewayClass": true,
}

// TestE2EManifestsAccounted translates Envoy Gateway's e2e manifests (on the
// conformance suite's base objects) and its egctl corpus, as a user
// migrating would, and checks that every object comes back with a status and
// that nothing Portico does not enforce is Accepted.
func TestE2EManifestsAccounted(t *testing.T) {
	e2e, _ := filepath.Glob("testdata/e2e/*.yaml")
	egctl, _ := filepath.Glob("testdata/egctl/in/*.yaml")
	if len(e2e) < 10 || len(egctl) < 10 {
		t.Fatalf("corpus missing: %d e2e manifests, %d egctl inputs", len(e2e), len(egctl))
	}
	for _, f := range append(e2e, egctl...) {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			paths := []string{f}
			if strings.Contains(f, "/e2e/") {
				paths = []string{"testdata/e2e/infra.yaml.in", f}
			}
			// The Wasm manifests download into the test's cache, not
			// the user's (which a running `portico run` shares).
			report, err := Run(Options{Paths: paths, To: []string{ToGatewayAPI}, WasmCacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			out := outputObjects(t, report)
			for _, in := range inputObjects(t, paths) {
				o, ok := out[in]
				if !ok {
					if !parentRejected(in, out) {
						t.Errorf("%s: loaded but absent from the output", in)
					}
					continue
				}
				checkNoFalseAccepted(t, in, o)
			}
		})
	}
}

// inputObjects lists "Kind ns/name" of the status-carrying objects loaded.
func inputObjects(t *testing.T, paths []string) []string {
	var out []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		set, _ := resource.LoadBytes(p, data, resource.WithDefaultNamespace(DefaultNamespace))
		b, _ := json.Marshal(set)
		var lists map[string][]map[string]any
		_ = json.Unmarshal(b, &lists)
		for _, l := range lists {
			for _, o := range l {
				kind, _ := o["kind"].(string)
				if !statusKinds[kind] {
					continue
				}
				md, _ := o["metadata"].(map[string]any)
				ns, _ := md["namespace"].(string)
				name, _ := md["name"].(string)
				if kind == "GatewayClass" {
					ns = ""
				}
				out = append(out, kind+" "+ns+"/"+name)
			}
		}
	}
	return out
}

// outputObjects maps "Kind ns/name" to each printed object.
func outputObjects(t *testing.T, r *Report) map[string]map[string]any {
	data, err := r.Output.Marshal("json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	add := func(v any) {
		o, _ := v.(map[string]any)
		md, _ := o["metadata"].(map[string]any)
		if md == nil {
			return
		}
		ns, _ := md["namespace"].(string)
		out[o["kind"].(string)+" "+ns+"/"+md["name"].(string)] = o
	}
	for k, v := range doc {
		if k == "xds" || k == "xdsIR" {
			continue
		}
		if l, ok := v.([]any); ok {
			for _, o := range l {
				add(o)
			}
			continue
		}
		add(v)
	}
	return out
}

// parentRejected allows a route to be left out when the Gateway it names is
// printed as not accepted (egctl does the same: the class is invalid).
func parentRejected(key string, out map[string]map[string]any) bool {
	if !strings.Contains(key, "Route ") {
		return false
	}
	for k, o := range out {
		if strings.HasPrefix(k, "Gateway ") {
			b, _ := json.Marshal(o["status"])
			if strings.Contains(string(b), `"reason":"InvalidParameters"`) {
				return true
			}
		}
	}
	return false
}

// checkNoFalseAccepted fails when an object with fields the ledger marks not
// supported carries Accepted=True (a Gateway may, with reason
// UnsupportedField; an HTTPRoute must then say PartiallyInvalid, or be
// Accepted=False when none of its rules is left).
func checkNoFalseAccepted(t *testing.T, key string, o map[string]any) {
	t.Helper()
	kind := o["kind"].(string)
	st, _ := json.Marshal(o["status"])
	if string(st) == "{}" || string(st) == "null" {
		t.Errorf("%s: printed without a status", key)
		return
	}
	spec, _ := json.Marshal(o)
	typed := typedObject(kind)
	if typed == nil || json.Unmarshal(spec, typed) != nil {
		return
	}
	if len(support.Select(support.Findings(kind, typed), support.NotYet)) == 0 {
		return
	}
	status := string(st)
	switch kind {
	case "Gateway":
		if strings.Contains(status, `"reason":"Accepted","status":"True","type":"Accepted"`) {
			t.Errorf("%s: unsupported fields but Accepted=True without naming them: %s", key, status)
		}
	case "HTTPRoute":
		if !strings.Contains(status, `"type":"PartiallyInvalid"`) && !strings.Contains(status, `"reason":"UnsupportedValue","status":"False","type":"Accepted"`) {
			t.Errorf("%s: unsupported fields but neither PartiallyInvalid nor Accepted=False: %s", key, status)
		}
	default:
		if strings.Contains(status, `"status":"True","type":"Accepted"`) {
			t.Errorf("%s: unsupported fields but Accepted=True: %s", key, status)
		}
	}
}

func typedObject(kind string) any {
	switch kind {
	case "Gateway":
		return &gwapiv1.Gateway{}
	case "HTTPRoute":
		return &gwapiv1.HTTPRoute{}
	case "Backend":
		return &egv1a1.Backend{}
	case "SecurityPolicy":
		return &egv1a1.SecurityPolicy{}
	case "EnvoyExtensionPolicy":
		return &egv1a1.EnvoyExtensionPolicy{}
	case "EnvoyProxy":
		return &egv1a1.EnvoyProxy{}
	}
	return nil
}
