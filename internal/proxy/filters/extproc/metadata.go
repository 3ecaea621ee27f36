package extproc

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

// metadataContext is the dynamic metadata of the forwarding namespaces
// that the request has (nil when none).
func metadataContext(namespaces []string, s *filters.Stream) *corev3.Metadata {
	if len(namespaces) == 0 || s.Metadata == nil {
		return nil
	}
	dm := s.DynamicMetadata()
	var md *corev3.Metadata
	for _, ns := range namespaces {
		vals, ok := dm[ns]
		if !ok {
			continue
		}
		st, err := structpb.NewStruct(vals)
		if err != nil {
			continue // a value a Struct cannot hold: not forwarded
		}
		if md == nil {
			md = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
		}
		md.FilterMetadata[ns] = st
	}
	return md
}

// applyDynamicMetadata merges what the processor wrote into the
// namespaces it may write (receiving_namespaces); others are ignored.
func applyDynamicMetadata(m *structpb.Struct, receiving []string, s *filters.Stream) {
	if m == nil || len(receiving) == 0 {
		return
	}
	for _, ns := range receiving {
		v := m.GetFields()[ns].GetStructValue()
		if v == nil {
			continue
		}
		dm := s.DynamicMetadata()
		if dm[ns] == nil {
			dm[ns] = map[string]any{}
		}
		for k, x := range v.AsMap() {
			dm[ns][k] = x
		}
	}
}
