package kubernetes

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	sigsjson "sigs.k8s.io/json"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// applyPatch applies an EnvoyProxy patch to a rendered object in place, as
// Envoy Gateway does: the object as JSON, then a Kubernetes strategic
// merge patch against its Go type (containers and volumes merge by name,
// volumeMounts by mountPath, ports by containerPort) or an RFC 7386 merge
// (lists replaced whole). Unlike Envoy Gateway, a field the object's type
// does not have is an error rather than silently dropped: a misspelt
// field would otherwise look applied.
func applyPatch[T any](obj *T, p *egv1a1.KubernetesPatchSpec, schema *T) error {
	if len(p.Value.Raw) == 0 {
		return errors.New("value is empty")
	}
	orig, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	var out []byte
	mt := egv1a1.StrategicMerge
	if p.Type != nil {
		mt = *p.Type
	}
	switch mt {
	case egv1a1.StrategicMerge:
		out, err = strategicpatch.StrategicMergePatch(orig, p.Value.Raw, schema)
	case egv1a1.JSONMerge:
		out, err = jsonpatch.MergePatch(orig, p.Value.Raw)
	default:
		return fmt.Errorf("unsupported merge type: %s", mt)
	}
	if err != nil {
		return fmt.Errorf("%s patch: %w", mt, err)
	}
	var next T
	strict, err := sigsjson.UnmarshalStrict(out, &next)
	if err != nil {
		return fmt.Errorf("%s patch result: %w", mt, err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%s patch result: %s", mt, strings.Join(msgs, "; "))
	}
	*obj = next
	return nil
}
