package pipeline

import (
	"bytes"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/resource"
)

const policies = `
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata:
  name: attempts
  namespace: default
spec:
  targetRef:
    group: gateway.networking.k8s.io
    kind: Gateway
    name: eg
  type: JSONPatch
  jsonPatches:
    - type: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
      name: default/eg/http
      operation:
        op: add
        jsonPath: "..virtual_hosts[?match(@.name, '.*www_example_com')]"
        path: "include_attempt_count_in_response"
        value: true
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata:
  name: missing
  namespace: default
spec:
  targetRef:
    group: gateway.networking.k8s.io
    kind: Gateway
    name: eg
  type: JSONPatch
  jsonPatches:
    - type: "type.googleapis.com/envoy.config.cluster.v3.Cluster"
      name: no-such-cluster
      operation:
        op: remove
        path: "/name"
`

func load(t *testing.T) *resource.Set {
	t.Helper()
	quickstart, err := os.ReadFile("../../examples/quickstart/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The quickstart names no namespace: "default", as portico run and
	// kubectl apply give it, where the guide's policies are.
	set, problems := resource.LoadBytes("in.yaml", append(append(quickstart, "\n---\n"...), policies...),
		resource.WithDefaultNamespace("default"))
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	return set
}

func config(patches bool) *egv1a1.EnvoyGateway {
	cfg := &egv1a1.EnvoyGateway{}
	resource.SetConfigDefaults(cfg)
	cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableEnvoyPatchPolicy: patches}
	return cfg
}

// TestRunAppliesPatchesAndReportsEachPolicy shows the stages in order: the
// good policy reaches the xDS and is Programmed, the bad one is reported
// and blocks nothing.
func TestRunAppliesPatchesAndReportsEachPolicy(t *testing.T) {
	r := Run(load(t), config(true), Options{})
	f := r.Fleet("default/eg")
	if f == nil || f.Resources == nil {
		t.Fatalf("no fleet default/eg: %+v", r.Fleets)
	}
	if len(f.Errors) > 0 {
		t.Fatalf("xDS errors: %v", f.Errors)
	}
	var patched bool
	for _, rc := range f.Resources.Routes {
		for _, vh := range rc.VirtualHosts {
			patched = patched || vh.IncludeAttemptCountInResponse
		}
	}
	if !patched {
		t.Fatal("include_attempt_count_in_response was not applied")
	}
	want := map[string]string{"attempts": "True", "missing": "False"}
	if len(r.EnvoyPatchPolicies) != 2 {
		t.Fatalf("want 2 policies, got %d", len(r.EnvoyPatchPolicies))
	}
	for _, p := range r.EnvoyPatchPolicies {
		var programmed string
		for _, c := range p.Status.Ancestors[0].Conditions {
			if c.Type == "Programmed" {
				programmed = string(c.Status)
			}
		}
		if programmed != want[p.Name] {
			t.Errorf("policy %s: Programmed=%q, want %q (%+v)", p.Name, programmed, want[p.Name], p.Status)
		}
	}
}

// TestRunDisabledPatchesLeaveXDSAlone: with the API off the policies are
// Accepted=False and the xDS is the unpatched translation.
func TestRunDisabledPatchesLeaveXDSAlone(t *testing.T) {
	set := load(t)
	off := Run(set, config(false), Options{})
	for _, p := range off.EnvoyPatchPolicies {
		if c := p.Status.Ancestors[0].Conditions[0]; c.Reason != "Disabled" {
			t.Errorf("policy %s: want reason Disabled, got %+v", p.Name, c)
		}
	}
	for _, rc := range off.Fleet("default/eg").Resources.Routes {
		for _, vh := range rc.VirtualHosts {
			if vh.IncludeAttemptCountInResponse {
				t.Fatal("disabled policy was applied")
			}
		}
	}
}

// TestRunIsDeterministic: two runs give equal xDS.
func TestRunIsDeterministic(t *testing.T) {
	// Byte for byte, not proto.Equal: Envoy compares a listener's config by
	// its bytes, and an Any packed from a map in random order would make
	// every push drain and rebuild unchanged listeners.
	set := load(t)
	a, b := Run(set, config(true), Options{}), Run(set, config(true), Options{})
	ra, rb := a.Fleets[0].Resources.ByType(), b.Fleets[0].Resources.ByType()
	opts := proto.MarshalOptions{Deterministic: true}
	for typ, list := range ra {
		if len(list) != len(rb[typ]) {
			t.Fatalf("%s: %d resources, then %d", typ, len(list), len(rb[typ]))
		}
		for i, r := range list {
			x, _ := opts.Marshal(r)
			y, _ := opts.Marshal(rb[typ][i])
			if !bytes.Equal(x, y) {
				t.Errorf("%s %d: the bytes differ between runs of the same input", typ, i)
			}
		}
	}
}
