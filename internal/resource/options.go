package resource

import (
	"io"

	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
)

// DefaultNamespace is the namespace given to namespaced objects that have none; it is
// egctl's default (-n envoy-gateway-system).
const DefaultNamespace = "envoy-gateway-system"

type options struct {
	defaultNS  string
	extraKinds map[k8sschema.GroupVersionKind]bool
	extraCRDs  *registry
	crdErr     error
	stdin      io.Reader
}

// Option configures Load and LoadBytes.
type Option func(*options)

// WithDefaultNamespace sets the namespace for namespaced objects written without one.
func WithDefaultNamespace(ns string) Option {
	return func(o *options) { o.defaultNS = ns }
}

// WithExtraKinds keeps objects of these kinds in Set.Extra instead of reporting them as
// unknown: the resources an extension manager declares (resources, policyResources,
// backendResources). Versions must match exactly.
func WithExtraKinds(gvks ...k8sschema.GroupVersionKind) Option {
	return func(o *options) {
		if o.extraKinds == nil {
			o.extraKinds = map[k8sschema.GroupVersionKind]bool{}
		}
		for _, g := range gvks {
			o.extraKinds[g] = true
		}
	}
}

// WithCRDs adds CustomResourceDefinitions (a YAML stream) used to validate the extra
// kinds; without one, extra objects are checked only for apiVersion, kind and metadata.
// source names the CRDs in messages. A malformed stream makes Load return an error.
func WithCRDs(source string, data []byte) Option {
	return func(o *options) {
		if o.extraCRDs == nil {
			o.extraCRDs = &registry{}
		}
		if err := o.extraCRDs.add(source, data); err != nil && o.crdErr == nil {
			o.crdErr = err
		}
	}
}

// WithStdin sets what the path "-" reads (default os.Stdin); for tests and embedding.
func WithStdin(r io.Reader) Option {
	return func(o *options) { o.stdin = r }
}

func buildOptions(opts []Option) options {
	o := options{defaultNS: DefaultNamespace}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
