package filters

// DynamicMetadataKey is where a stream's dynamic metadata lives in
// Stream.Metadata: Envoy's per-request metadata by namespace (a filter's
// name, e.g. "envoy.filters.http.jwt_authn"), written by one filter and
// read by later ones (Lua, RBAC's metadata matchers, ext_authz's and
// ext_proc's metadata_context) and by the route's %DYNAMIC_METADATA(...)%
// header values.
const DynamicMetadataKey = "envoy.dynamic_metadata"

// DynamicMetadata returns the stream's dynamic metadata by namespace,
// creating it on first use. Filters share the returned map.
func (s *Stream) DynamicMetadata() map[string]map[string]any {
	if s.Metadata == nil {
		s.Metadata = map[string]any{}
	}
	dm, _ := s.Metadata[DynamicMetadataKey].(map[string]map[string]any)
	if dm == nil {
		dm = map[string]map[string]any{}
		s.Metadata[DynamicMetadataKey] = dm
	}
	return dm
}

// LookupDynamicMetadata returns one namespace of the stream's dynamic
// metadata without creating anything (nil when there is none).
func (s *Stream) LookupDynamicMetadata(namespace string) map[string]any {
	dm, _ := s.Metadata[DynamicMetadataKey].(map[string]map[string]any)
	return dm[namespace]
}
