package kubetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// clusterScoped are the kinds Apply gives no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "GatewayClass": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "CustomResourceDefinition": true}

// Decode splits YAML (or JSON) documents into objects, giving namespaced
// objects without a namespace ns, as `kubectl apply -n ns -f` does.
func Decode(data []byte, ns string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetNamespace() == "" && !clusterScoped[u.GetKind()] {
			u.SetNamespace(ns)
		}
		out = append(out, u)
	}
}

// Apply server-side applies YAML documents as `kubectl apply --server-side`
// would (field manager kubectl).
func (e *Env) Apply(t testing.TB, data []byte, ns string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Decode(data, ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if err := e.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u),
			client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return objs
}
