// Package v1alpha1 holds Portico's copy of the Envoy Gateway API
// (group gateway.envoyproxy.io, version v1alpha1).
//
// The JSON field names, enums and defaults follow Envoy Gateway's published
// API reference so that manifests written for Envoy Gateway decode here
// unchanged, including under strict (unknown-field rejecting) decoding. The
// Go code is Portico's own; only the wire shape is shared.
//
// Sub-trees that Portico does not interpret yet (for example load balancer or
// health check tuning under backendSettings, tracing and metrics telemetry)
// are typed as apiextensionsv1.JSON: they are accepted, preserved on
// round-trip and marked x-kubernetes-preserve-unknown-fields in the CRDs,
// rather than rejected. Each such field says so in its comment.
//
// +kubebuilder:object:generate=true
// +groupName=gateway.envoyproxy.io
package v1alpha1
