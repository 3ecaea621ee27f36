package bootstrap

import (
	"encoding/json"
	"errors"
	"fmt"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	jsonpatch "github.com/evanphx/json-patch/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// Validate checks an EnvoyProxy's custom bootstrap the way Envoy Gateway does
// (and with its messages, which egctl and the GatewayClass status show): the
// result of applying it to the default bootstrap must be a valid Bootstrap
// that keeps the default dynamic_resources and xds_cluster endpoints, since
// without them the proxy could not reach the control plane.
func Validate(custom *egv1a1.ProxyBootstrap) error {
	if custom == nil {
		return nil
	}
	def := Build(EnvoyGatewayDefaults())
	user, err := apply(custom, def)
	if err != nil {
		return err
	}
	if err := user.Validate(); err != nil {
		return fmt.Errorf("validation failed for user bootstrap: %w", err)
	}
	if user.GetDynamicResources() == nil || !proto.Equal(user.GetDynamicResources(), def.GetDynamicResources()) {
		return errors.New("dynamic_resources cannot be modified")
	}
	uc, dc := xdsCluster(user), xdsCluster(def)
	if uc == nil || !proto.Equal(uc.GetLoadAssignment(), dc.GetLoadAssignment()) {
		// Envoy Gateway's message, spelling included.
		return errors.New("xds_cluster's loadAssigntment cannot be modified")
	}
	return nil
}

// apply returns the bootstrap a custom bootstrap asks for: Replace (the
// default type) takes the value as is, Merge merges it into the default,
// JSONPatch patches the default.
func apply(custom *egv1a1.ProxyBootstrap, def *bootstrapv3.Bootstrap) (*bootstrapv3.Bootstrap, error) {
	typ := egv1a1.BootstrapTypeReplace
	if custom.Type != nil {
		typ = *custom.Type
	}
	switch typ {
	case egv1a1.BootstrapTypeReplace, egv1a1.BootstrapTypeMerge:
		if custom.Value == nil {
			return nil, fmt.Errorf("bootstrap type %s needs a value", typ)
		}
		user, err := unmarshalYAML([]byte(*custom.Value))
		if err != nil {
			return nil, err
		}
		if typ == egv1a1.BootstrapTypeReplace {
			return user, nil
		}
		merged := proto.Clone(def).(*bootstrapv3.Bootstrap)
		proto.Merge(merged, user)
		return merged, nil
	case egv1a1.BootstrapTypeJSONPatch:
		return patched(custom.JSONPatches, def)
	}
	return nil, fmt.Errorf("unknown bootstrap type %q", typ)
}

func unmarshalYAML(data []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("unable to convert user bootstrap to json: %w", err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		return nil, fmt.Errorf("unable to unmarshal user bootstrap: %w", err)
	}
	return b, nil
}

func patched(ops []egv1a1.JSONPatchOperation, def *bootstrapv3.Bootstrap) (*bootstrapv3.Bootstrap, error) {
	doc, err := protojson.Marshal(def)
	if err != nil {
		return nil, err
	}
	var patch []map[string]any
	for i, op := range ops {
		if op.JSONPath != nil {
			return nil, fmt.Errorf("jsonPatches[%d]: jsonPath is not supported in bootstrap patches yet; use path", i)
		}
		m := map[string]any{"op": string(op.Op)}
		if op.Path != nil {
			m["path"] = *op.Path
		}
		if op.From != nil {
			m["from"] = *op.From
		}
		if op.Value != nil {
			m["value"] = json.RawMessage(op.Value.Raw)
		}
		patch = append(patch, m)
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("unable to decode bootstrap patches: %w", err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("unable to apply bootstrap patches: %w", err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(out, b); err != nil {
		return nil, fmt.Errorf("unable to unmarshal user bootstrap: %w", err)
	}
	return b, nil
}

func xdsCluster(b *bootstrapv3.Bootstrap) *clusterv3.Cluster {
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == "xds_cluster" {
			return c
		}
	}
	return nil
}
