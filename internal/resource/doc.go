// Package resource loads Portico's input set: Gateway API, Envoy Gateway
// (gateway.envoyproxy.io/v1alpha1) and core Kubernetes objects written as YAML or JSON,
// validated strictly and decoded into typed Go structs (Set).
//
// # Loading
//
// Load takes files, folders (searched recursively for *.yaml, *.yml and *.json, in
// sorted order, hidden folders skipped) and "-" for stdin. Streams are cut at "---"
// lines first, so one broken document never hides the others. Empty documents are
// skipped and do not count in Problem.Doc. Lists (kind List or *List with items) are
// expanded. Namespaced objects without a namespace get WithDefaultNamespace
// (envoy-gateway-system by default, like egctl); cluster-scoped ones (GatewayClass,
// Namespace, ...) lose any namespace, as the API server does.
//
// # Validation, in one pass, like the API server on create
//
// CRD kinds are checked against the openAPIV3Schema of the version written, taken from
// the CRDs embedded by config/crd (Gateway API experimental channel v1.6.3, Portico's
// own), compiled lazily once per kind into a small walker: types, enums, required
// fields, min/max, lengths, item counts, patterns, formats (ipv4, ipv6, cidr,
// date-time), list-map/set uniqueness, allOf/anyOf/oneOf/not, unknown fields (with a
// "did you mean" hint). Schema defaults are applied and non-nullable nulls pruned before
// validation, so the Set holds what a cluster would store. status is dropped.
// Core kinds are decoded strictly (sigs.k8s.io/json), reporting every unknown and
// duplicate field; metadata is checked with apimachinery's ObjectMeta validation.
//
// Deliberately not done: CEL rules (x-kubernetes-validations) are not evaluated, and
// core kinds get no semantic validation beyond their Go types (the API server's rules
// for Service ports and the like live in k8s.io/kubernetes). The translators check
// what they rely on. YAML scalars follow YAML 1.2 (only true/false are booleans).
//
// An object with any problem is left out of the Set; everything else still loads.
// Duplicates (same group, kind, namespace, name): the first definition wins and each
// later one is a Problem, as `kubectl create` would refuse it.
//
// # Cost
//
// Documents are parsed and checked in parallel and committed in input order, so results
// never depend on scheduling. YAML parsing is about half of the time.
package resource
