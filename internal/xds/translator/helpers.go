package translator

import (
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/ir"
)

func wrapBool(b bool) *wrapperspb.BoolValue       { return wrapperspb.Bool(b) }
func wrapUint32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }

// mustAny packs messages whose type is linked in; packing only fails for
// an unknown type, which is a programming error.
func mustAny(m proto.Message) *anypb.Any {
	a, err := packAny(m)
	if err != nil {
		panic(err)
	}
	return a
}

// packAny is anypb.New with deterministic bytes. anypb.New marshals maps
// (Struct metadata, JSON log formats) in random order, so equal input
// would give Any values that differ byte for byte: Envoy compares a
// listener's config by its bytes and would drain and rebuild it on every
// push, and the xDS server's content hash would never see "no change".
func packAny(m proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, err
	}
	return a, nil
}

// adsConfigSource is ADS with Envoy Gateway's initial_fetch_timeout 0s
// (used for RDS and SDS).
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:  corev3.ApiVersion_V3,
		InitialFetchTimeout: durationpb.New(0),
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{
			Ads: &corev3.AggregatedConfigSource{},
		},
	}
}

// parseDuration parses an IR duration ("10s", "1m30s", "250ms").
func parseDuration(s string) (*durationpb.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	if d < 0 {
		return nil, fmt.Errorf("negative duration %q", s)
	}
	return durationpb.New(d), nil
}

// resourceMetadata renders filter_metadata["envoy-gateway"].resources = [m]
// as Envoy Gateway does: kind, name and namespace always, sectionName and
// annotations when set. Nil metadata gives nil.
func resourceMetadata(m *ir.ResourceMetadata) *corev3.Metadata {
	if m == nil {
		return nil
	}
	r := map[string]any{"kind": m.Kind, "name": m.Name, "namespace": m.Namespace}
	if m.SectionName != "" {
		r["sectionName"] = m.SectionName
	}
	if len(m.Annotations) > 0 {
		a := map[string]any{}
		for k, v := range m.Annotations {
			a[k] = v
		}
		r["annotations"] = a
	}
	s, err := structpb.NewStruct(map[string]any{"resources": []any{r}})
	if err != nil {
		panic(err) // only strings and maps: cannot fail
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy-gateway": s}}
}
