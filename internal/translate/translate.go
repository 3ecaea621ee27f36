// Package translate is `portico x translate`: load files, validate, translate
// to IR and xDS, and assemble egctl's output document. The server uses the
// same stages; this package only adds the offline output shape.
package translate

import (
	"context"
	"fmt"
	"io"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/resource"
)

// DefaultNamespace is egctl's namespace for objects that name none.
const DefaultNamespace = "envoy-gateway-system"

// Output kinds accepted by --to.
const (
	ToGatewayAPI = "gateway-api"
	ToXDS        = "xds"
	ToIR         = "ir"
)

// Options mirror egctl x translate's flags.
type Options struct {
	// Paths are files, folders or "-" for Stdin.
	Paths []string
	Stdin io.Reader
	// Namespace is given to objects without one.
	Namespace string
	// To is any of gateway-api, xds, ir.
	To []string
	// Types selects xDS sections: all, bootstrap, cluster, listener, route, endpoint.
	Types []string
	// Config is the EnvoyGateway configuration; nil means defaults.
	Config *egv1a1.EnvoyGateway
	// Diff adds, per EnvoyPatchPolicy, the unified diff of the xDS it changed.
	Diff bool
	// ExtensionServer (host:port or unix:///path) runs the extension hooks
	// against that server; see extension.go.
	ExtensionServer string
	// AddMissingResources is egctl's --add-missing-resources: what a
	// cluster would supply is added to the input (see missing.go).
	AddMissingResources bool
	// WasmCacheDir is the on-disk cache of Wasm modules ("" is
	// wasm.DefaultCacheDir(), the one `portico run` uses).
	WasmCacheDir string
}

// Report is the outcome of a translation: the output document and the
// problems found in the input (which never stop the valid objects).
type Report struct {
	Output   Output
	Problems resource.Problems
	// Errors are translation errors that are not tied to an input document
	// (for example an xDS resource that failed validation).
	Errors []string
	// ExtensionErrors are extension hooks that failed without failOpen:
	// their fleets have no xDS, and x translate exits non-zero.
	ExtensionErrors []string
	// Summary counts the objects by kind and state, for a person.
	Summary *Summary
}

// Run translates the input. It returns an error only when nothing could be
// read (a missing file, or input in which no object was valid).
func Run(opts Options) (*Report, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if len(opts.To) == 0 {
		opts.To = []string{ToXDS}
	}
	for _, to := range opts.To {
		if to != ToGatewayAPI && to != ToXDS && to != ToIR {
			return nil, fmt.Errorf("unknown --to %q: use gateway-api, xds or ir", to)
		}
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = OfflineDefaults()
	}
	set, problems, err := resource.Load(opts.Paths, append([]resource.Option{
		resource.WithDefaultNamespace(opts.Namespace), resource.WithStdin(opts.Stdin), resource.WithPipes()}, extensionLoadOptions(cfg)...)...)
	if err != nil {
		return nil, err
	}
	if set.Len() == 0 && len(problems) > 0 {
		return &Report{Problems: problems}, fmt.Errorf("no valid object could be read: %d problem(s)", len(problems))
	}
	if opts.AddMissingResources {
		if set, err = addMissingResources(set); err != nil {
			return &Report{Problems: problems}, err
		}
	}
	hooks, closeHooks, err := extensionHooks(opts.ExtensionServer, cfg, set)
	if err != nil {
		return nil, err
	}
	defer closeHooks()
	modules, wasmServer, stopWasm, err := fetchWasm(context.Background(), set, opts.WasmCacheDir)
	if err != nil {
		return nil, err
	}
	defer stopWasm()
	result := pipeline.Run(set, cfg, pipeline.Options{RecordPatchChanges: opts.Diff, Extensions: hooks,
		Wasm: modules, WasmServer: wasmServer})
	report := &Report{Output: Output{}, Problems: problems, Errors: pipeline.ErrorsOf(result)}
	if slices.Contains(opts.To, ToGatewayAPI) {
		addGatewayAPI(report.Output, result)
	}
	if slices.Contains(opts.To, ToIR) {
		report.Output["xdsIR"] = result.Gateway.XdsIR
	}
	if slices.Contains(opts.To, ToXDS) {
		if err := addXDS(report, result, opts.Types); err != nil {
			return nil, err
		}
	}
	if opts.Diff {
		addPatchDiffs(report, result)
	}
	for _, f := range result.Fleets {
		if f.ExtensionError != "" {
			report.ExtensionErrors = append(report.ExtensionErrors, "fleet "+f.Key+": "+f.ExtensionError)
		}
	}
	statuses := report.Output
	if !slices.Contains(opts.To, ToGatewayAPI) {
		statuses = Output{}
		addGatewayAPI(statuses, result)
	}
	report.Summary = summarize(statuses, set, problems, report.ExtensionErrors)
	return report, nil
}

// OfflineDefaults is the configuration x translate uses without --config.
// Like egctl, it turns on the APIs that are off by default in a running
// control plane (Backend, EnvoyPatchPolicy, Lua): offline translation only
// shows what they would do, so the security default does not apply.
func OfflineDefaults() *egv1a1.EnvoyGateway {
	cfg := &egv1a1.EnvoyGateway{}
	resource.SetConfigDefaults(cfg)
	if cfg.ExtensionAPIs == nil {
		cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{}
	}
	cfg.ExtensionAPIs.EnableBackend = true
	cfg.ExtensionAPIs.EnableEnvoyPatchPolicy = true
	cfg.ExtensionAPIs.EnableLua = true
	return cfg
}

// addGatewayAPI adds the resources Portico owns, with status, under egctl's
// keys. egctl prints one gatewayClass; when there are several we print all
// of them under gatewayClasses rather than hide some.
func addGatewayAPI(out Output, pr *pipeline.Result) {
	r := pr.Gateway
	addOne(out, "gatewayClass", "gatewayClasses", "GatewayClass", r.GatewayClasses)
	addOne(out, "envoyProxyForGatewayClass", "envoyProxiesForGatewayClasses", egv1a1.KindEnvoyProxy, r.EnvoyProxies)
	addList(out, "envoyProxiesForGateways", egv1a1.KindEnvoyProxy, r.EnvoyProxiesForGateways)
	addList(out, "gateways", "Gateway", r.Gateways)
	addList(out, "backends", egv1a1.KindBackend, r.Backends)
	addList(out, "httpRoutes", "HTTPRoute", r.HTTPRoutes)
	addList(out, "grpcRoutes", "GRPCRoute", r.GRPCRoutes)
	addList(out, "tlsRoutes", "TLSRoute", r.TLSRoutes)
	addList(out, "tcpRoutes", "TCPRoute", r.TCPRoutes)
	addList(out, "udpRoutes", "UDPRoute", r.UDPRoutes)
	addList(out, "listenerSets", "ListenerSet", r.ListenerSets)
	addList(out, "backendTLSPolicies", "BackendTLSPolicy", r.BackendTLSPolicies)
	addList(out, "envoyPatchPolicies", egv1a1.KindEnvoyPatchPolicy, pr.EnvoyPatchPolicies)
	addList(out, "envoyExtensionPolicies", egv1a1.KindEnvoyExtensionPolicy, r.EnvoyExtensionPolicies)
	addList(out, "securityPolicies", egv1a1.KindSecurityPolicy, r.SecurityPolicies)
}

// addList adds objects under key, with apiVersion and kind, when there are any.
func addList[T runtime.Object](out Output, key, kind string, objs []T) {
	if len(objs) == 0 {
		return
	}
	all := make([]any, 0, len(objs))
	for _, o := range objs {
		all = append(all, withTypeMeta(o, kind))
	}
	out[key] = all
}

// addOne follows egctl, which prints a single object (gatewayClass) where
// there is one; several go under the plural key rather than being hidden.
func addOne[T runtime.Object](out Output, single, plural, kind string, objs []T) {
	if len(objs) == 1 {
		out[single] = withTypeMeta(objs[0], kind)
		return
	}
	addList(out, plural, kind, objs)
}
