package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/runtime"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/yamlout"
)

// Output is egctl's output document: resources with their status under
// egctl's keys (gatewayClass, gateways, httpRoutes, ...) plus xds and xdsIR.
// It is kept as a map so yaml and json print the same tree with sorted keys.
type Output map[string]any

// Marshal renders the output as "yaml" (the default) or "json".
func (o Output) Marshal(format string) ([]byte, error) {
	var b bytes.Buffer
	if err := o.Write(&b, format); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write renders the output to w. In YAML each part (an object, one xDS
// section of one fleet) is built, printed and dropped in turn, so memory
// does not grow with the whole document.
func (o Output) Write(w io.Writer, format string) error {
	generic, err := normalize(map[string]any(o))
	if err != nil {
		return err
	}
	switch format {
	case "", "yaml":
		return yamlout.Write(w, generic)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(generic)
	default:
		return fmt.Errorf("unknown output format %q: use yaml or json", format)
	}
}

// normalize turns typed values (Kubernetes objects, IR) into generic JSON
// values in place, leaving already-generic parts (the xDS config dumps,
// most of the output by size) untouched instead of encoding and decoding
// them again.
func normalize(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			n, err := normalize(child)
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
		return t, nil
	case []any:
		for i, child := range t {
			n, err := normalize(child)
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
		return t, nil
	case nil, string, bool, json.Number, float64:
		return v, nil
	case yamlout.Lazy:
		return yamlout.Lazy(func() (any, error) {
			v, err := t()
			if err != nil {
				return nil, err
			}
			return normalize(v)
		}), nil
	}
	// A typed object is converted when it is printed, not before.
	return yamlout.Lazy(func() (any, error) { return toGeneric(v) }), nil
}

// toGeneric encodes a typed value and decodes it as generic JSON values.
func toGeneric(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	// Kubernetes objects marshal a zero creationTimestamp as null; egctl
	// strips it, and so do we, so the output is only what the user wrote
	// plus status.
	stripNullTimestamps(generic)
	return generic, nil
}

// stripNullTimestamps removes metadata.creationTimestamp: null everywhere.
func stripNullTimestamps(v any) {
	switch t := v.(type) {
	case map[string]any:
		if md, ok := t["metadata"].(map[string]any); ok {
			if ts, ok := md["creationTimestamp"]; ok && ts == nil {
				delete(md, "creationTimestamp")
			}
		}
		for _, child := range t {
			stripNullTimestamps(child)
		}
	case []any:
		for _, child := range t {
			stripNullTimestamps(child)
		}
	}
}

// withTypeMeta makes sure a printed object carries apiVersion and kind, as
// kubectl and egctl print them, even when it was built in code.
func withTypeMeta(obj runtime.Object, kind string) runtime.Object {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" {
		gv := gwapiv1.SchemeGroupVersion
		switch kind {
		case egv1a1.KindEnvoyProxy, egv1a1.KindBackend, egv1a1.KindEnvoyPatchPolicy,
			egv1a1.KindEnvoyExtensionPolicy, egv1a1.KindSecurityPolicy:
			gv = egv1a1.GroupVersion
		}
		obj.GetObjectKind().SetGroupVersionKind(gv.WithKind(kind))
	}
	return obj
}
