package gatewayapi

import (
	"fmt"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// contextExtension is one extAuth contextExtensions entry (kept as raw
// JSON in the API types): a value, or a key of a ConfigMap or Secret of
// the policy's namespace.
type contextExtension struct {
	Name     string `json:"name"`
	Type     string `json:"type,omitempty"`
	Value    string `json:"value,omitempty"`
	ValueRef *struct {
		Group string `json:"group,omitempty"`
		Kind  string `json:"kind"`
		Name  string `json:"name"`
		Key   string `json:"key"`
	} `json:"valueRef,omitempty"`
}

// contextExtensions resolves what the authorization service receives in
// every check of the policy's routes.
func (t *translation) contextExtensions(p *egv1a1.SecurityPolicy) ([]ir.ContextExtension, error) {
	var out []ir.ContextExtension
	for i, raw := range p.Spec.ExtAuth.ContextExtensions {
		var ce contextExtension
		if err := strictJSON(raw.Raw, &ce); err != nil {
			return nil, fmt.Errorf("contextExtensions[%d]: %v", i, err)
		}
		if ce.Name == "" {
			return nil, fmt.Errorf("contextExtensions[%d]: name is required", i)
		}
		switch ce.Type {
		case "", "Value":
			out = append(out, ir.ContextExtension{Name: ce.Name, Value: []byte(ce.Value)})
			continue
		case "ValueRef":
		default:
			return nil, fmt.Errorf("contextExtensions[%d]: unknown type %q", i, ce.Type)
		}
		if ce.ValueRef == nil {
			return nil, fmt.Errorf("contextExtensions[%d]: type ValueRef needs valueRef", i)
		}
		v, err := t.refValue(p.Namespace, ce.ValueRef.Kind, ce.ValueRef.Name, ce.ValueRef.Key)
		if err != nil {
			return nil, fmt.Errorf("contextExtensions[%d]: %v", i, err)
		}
		out = append(out, ir.ContextExtension{Name: ce.Name, Value: v})
	}
	return out, nil
}

// refValue is one key of a ConfigMap or Secret in namespace ns.
func (t *translation) refValue(ns, kind, name, k string) ([]byte, error) {
	switch kind {
	case "ConfigMap":
		for _, cm := range t.in.ConfigMaps {
			if cm.Namespace == ns && cm.Name == name {
				if v, ok := cm.Data[k]; ok {
					return []byte(v), nil
				}
				return nil, fmt.Errorf("ConfigMap %s/%s has no key %q", ns, name, k)
			}
		}
		return nil, fmt.Errorf("ConfigMap %s/%s not found", ns, name)
	case "Secret":
		s := t.index.secrets[key(ns, name)]
		if s == nil {
			return nil, fmt.Errorf("Secret %s/%s not found", ns, name)
		}
		if v, ok := s.Data[k]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("Secret %s/%s has no key %q", ns, name, k)
	}
	return nil, fmt.Errorf("valueRef kind %q: only ConfigMap and Secret are supported", kind)
}
