package gatewayapi

import (
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/resource"
)

func patchPolicy(ns, name string, prio int32, created int64, kind, target string) *egv1a1.EnvoyPatchPolicy {
	path := "/per_connection_buffer_limit_bytes"
	return &egv1a1.EnvoyPatchPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 2, CreationTimestamp: metav1.NewTime(time.Unix(created, 0))},
		Spec: egv1a1.EnvoyPatchPolicySpec{
			Type:      egv1a1.JSONPatchEnvoyPatchType,
			Priority:  prio,
			TargetRef: gwapiv1a2.NamespacedPolicyTargetReference{Group: gwapiv1.GroupName, Kind: gwapiv1.Kind(kind), Name: gwapiv1.ObjectName(target)},
			JSONPatches: []egv1a1.EnvoyJSONPatchConfig{{
				Type: egv1a1.ListenerEnvoyResourceType, Name: "default/eg/http",
				Operation: egv1a1.JSONPatchOperation{Op: "add", Path: &path, Value: &apiextensionsv1.JSON{Raw: []byte(`{"a":[1,"x"]}`)}},
			}},
		},
	}
}

func patchSet(policies ...*egv1a1.EnvoyPatchPolicy) *resource.Set {
	return &resource.Set{
		GatewayClasses: []*gwapiv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "eg"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: DefaultControllerName}}},
		Gateways: []*gwapiv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "eg"}, Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "eg", Listeners: []gwapiv1.Listener{{Name: "http", Protocol: gwapiv1.HTTPProtocolType, Port: 80}}}}},
		EnvoyPatchPolicies: policies,
	}
}

// Policies reach the IR ordered by priority, creation time, namespace and
// name, with their values decoded; the returned copies carry Accepted.
func TestProcessEnvoyPatchPoliciesOrderAndIR(t *testing.T) {
	set := patchSet(
		patchPolicy("default", "c", 0, 200, "Gateway", "eg"),
		patchPolicy("default", "b", 0, 100, "Gateway", "eg"),
		patchPolicy("default", "a", 5, 50, "Gateway", "eg"),
		patchPolicy("default", "d", -1, 300, "Gateway", "eg"),
	)
	opts := Options{EnableEnvoyPatchPolicy: true}
	r := Translate(set, opts)
	out := ProcessEnvoyPatchPolicies(set, opts, r)
	var order []string
	for _, p := range r.XdsIR["default/eg"].EnvoyPatchPolicies {
		order = append(order, p.Name)
	}
	if got := join(order); got != "d b c a" {
		t.Errorf("IR order %q, want %q", got, "d b c a")
	}
	v := r.XdsIR["default/eg"].EnvoyPatchPolicies[0].JSONPatches[0].Operation.Value
	if m, ok := v.(map[string]any); !ok || len(m["a"].([]any)) != 2 {
		t.Errorf("value %#v", v)
	}
	if len(out) != 4 || out[0].Name != "a" {
		t.Fatalf("output %v", out)
	}
	c := out[0].Status.Ancestors[0].Conditions[0]
	if c.Type != "Accepted" || c.Status != "True" || c.ObservedGeneration != 2 {
		t.Errorf("condition %+v", c)
	}
	if set.EnvoyPatchPolicies[0].Status.Ancestors != nil {
		t.Error("input modified")
	}
}

func TestProcessEnvoyPatchPoliciesRejections(t *testing.T) {
	other := patchPolicy("default", "ns", 0, 0, "Gateway", "eg")
	otherNS := gwapiv1.Namespace("elsewhere")
	other.Spec.TargetRef.Namespace = &otherNS
	for _, tc := range []struct {
		name    string
		p       *egv1a1.EnvoyPatchPolicy
		enabled bool
		reason  string
		message string
	}{
		{"disabled", patchPolicy("default", "p", 0, 0, "Gateway", "eg"), false, "Disabled", "EnvoyPatchPolicy is disabled in the EnvoyGateway configuration"},
		{"missing gateway", patchPolicy("default", "p", 0, 0, "Gateway", "nope"), true, "TargetNotFound", "Gateway default/nope not found or not managed by this controller"},
		{"other namespace", patchPolicy("other", "p", 0, 0, "Gateway", "eg"), true, "TargetNotFound", "Gateway other/eg not found or not managed by this controller"},
		{"targetRef namespace", other, true, "Invalid", `targetRef.namespace "elsewhere" must be the policy's namespace "default"`},
		{"wrong kind", patchPolicy("default", "p", 0, 0, "HTTPRoute", "eg"), true, "Invalid",
			"TargetRef gateway.networking.k8s.io/HTTPRoute is not supported: the supported kinds are gateway.networking.k8s.io/Gateway, and gateway.networking.k8s.io/GatewayClass when its EnvoyProxy merges gateways"},
		{"class not merged", patchPolicy("default", "p", 0, 0, "GatewayClass", "eg"), true, "Invalid",
			"GatewayClass eg does not merge gateways (its EnvoyProxy spec.mergeGateways is not true): target each Gateway instead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := patchSet(tc.p)
			opts := Options{EnableEnvoyPatchPolicy: tc.enabled}
			r := Translate(set, opts)
			out := ProcessEnvoyPatchPolicies(set, opts, r)
			c := out[0].Status.Ancestors[0].Conditions[0]
			if string(c.Status) != "False" || c.Reason != tc.reason || c.Message != tc.message {
				t.Errorf("got %s/%s %q", c.Status, c.Reason, c.Message)
			}
			for k, x := range r.XdsIR {
				if len(x.EnvoyPatchPolicies) > 0 {
					t.Errorf("rejected policy attached to %s", k)
				}
			}
		})
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
