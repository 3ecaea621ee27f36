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
	// maxFileSize bounds each file read (DefaultMaxFileSize).
	maxFileSize int64
	// pipes lets a path named explicitly be a pipe or character device.
	pipes bool
	// overrides are used instead of reading these files (by path as given).
	overrides map[string][]byte
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

// WithMaxFileSize sets the largest input file read (DefaultMaxFileSize when
// not set); a larger file is reported as a problem of its own and skipped.
func WithMaxFileSize(n int64) Option {
	return func(o *options) { o.maxFileSize = n }
}

// WithPipes lets a path named explicitly (not a folder's entry) be a named
// pipe or a character device, read up to the size limit: x translate -f
// <(command) is a pipe. A watching server must not set it: reading a pipe
// waits for its writer.
func WithPipes() Option {
	return func(o *options) { o.pipes = true }
}

// WithOverrides loads data in place of these files' contents (keyed by the
// path as Load sees it: given, or found in a folder). The file provider
// uses it to keep the last good version of a file whose edit has problems.
func WithOverrides(data map[string][]byte) Option {
	return func(o *options) { o.overrides = data }
}

func buildOptions(opts []Option) options {
	o := options{defaultNS: DefaultNamespace, maxFileSize: DefaultMaxFileSize}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
