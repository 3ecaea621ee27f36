// Package pipeline is the translation stages in order, shared by the server
// and `x translate` so both produce the same statuses and xDS:
//
//	resource.Set -> gatewayapi.Translate (+ policies) -> IR per fleet
//	  -> xds translator -> EnvoyPatchPolicy -> xDS per fleet
//
// Everything here is a pure function of its input; the caller owns I/O,
// clocks and the decision to publish.
package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/patch"
	"github.com/portico-gw/portico/internal/resource"
	"github.com/portico-gw/portico/internal/status/conditions"
	"github.com/portico-gw/portico/internal/xds/translator"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// Options tune a run beyond what the EnvoyGateway config says.
type Options struct {
	// Standalone and ServiceStandIn are gatewayapi.Options': set by
	// portico run, which serves the result without a cluster.
	Standalone     bool
	ServiceStandIn string
	// KubernetesInfrastructure is set by portico server, which makes the
	// proxies' Kubernetes objects (gatewayapi.Options').
	KubernetesInfrastructure bool
	// RecordPatchChanges keeps each policy's before/after resources (for
	// `x translate --diff`).
	RecordPatchChanges bool
	// Extensions are the extension server hooks (nil: none). They are
	// called through this interface so the pipeline stays free of I/O.
	Extensions xdstypes.Hooks
	// Wasm resolves Wasm code sources to modules the caller fetched
	// (nil: every Wasm entry fails, nothing was fetched).
	Wasm gatewayapi.WasmModules
	// WasmServer is where proxies download modules (nil: Envoy Gateway's
	// in-cluster address).
	WasmServer *ir.WasmServer
	// Memo, when set, carries output between runs so that a small change
	// costs little (see translator.Memo); the output is the same without
	// it. It is not used with Extensions: a hook's answer may depend on
	// more than the translator's input.
	Memo *Memo
}

// Memo holds each fleet's translator.Memo between runs. A Memo serves one
// Run at a time.
type Memo struct {
	routes *gatewayapi.Memo
	fleets map[string]*translator.Memo
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo {
	return &Memo{routes: gatewayapi.NewMemo(), fleets: map[string]*translator.Memo{}}
}

// fleet returns the memo of a fleet (nil without a Memo or with hooks).
func (o Options) fleetMemo(key string) *translator.Memo {
	if o.Memo == nil || o.Extensions != nil {
		return nil
	}
	m := o.Memo.fleets[key]
	if m == nil {
		m = translator.NewMemo()
		o.Memo.fleets[key] = m
	}
	return m
}

// Fleet is the output for one proxy fleet (one Gateway, or one GatewayClass
// with merged gateways).
type Fleet struct {
	Key string
	IR  *ir.Xds
	// Resources is the xDS after EnvoyPatchPolicies. Resources the xDS
	// translator rejected are left out and listed in Errors.
	Resources *xdstypes.Resources
	// Errors are the xDS translator's per-object errors.
	Errors []string
	// Patches are the EnvoyPatchPolicy outcomes, in the order applied.
	Patches []patch.Status
	// ExtensionError is set when an extension hook failed without
	// failOpen: Resources is then nil and the fleet must keep serving its
	// last good configuration.
	ExtensionError string
}

// Result is one full translation.
type Result struct {
	// Gateway holds the Gateway API objects with status and the IR.
	Gateway *gatewayapi.Result
	// EnvoyPatchPolicies carry Accepted and, once applied, Programmed.
	EnvoyPatchPolicies []*egv1a1.EnvoyPatchPolicy
	// Fleets are sorted by key.
	Fleets []*Fleet
}

// Fleet returns the fleet with the given key, or nil.
func (r *Result) Fleet(key string) *Fleet {
	for _, f := range r.Fleets {
		if f.Key == key {
			return f
		}
	}
	return nil
}

// Run translates the set under the given configuration. ctx bounds the
// extension hooks' calls: when it ends (the runner stops) calls in flight
// are cancelled and their fleets fail as any failed hook does.
func Run(ctx context.Context, set *resource.Set, cfg *egv1a1.EnvoyGateway, opts Options) *Result {
	gopts := TranslationOptions(cfg)
	gopts.Standalone, gopts.ServiceStandIn = opts.Standalone, opts.ServiceStandIn
	if opts.KubernetesInfrastructure {
		gopts.HostInfrastructure, gopts.KubernetesInfrastructure = false, true
	}
	gopts.Wasm, gopts.WasmServer = opts.Wasm, opts.WasmServer
	if opts.Memo != nil && opts.Extensions == nil {
		gopts.Memo = opts.Memo.routes
	}
	gw := gatewayapi.Translate(set, gopts)
	policies := gatewayapi.ProcessEnvoyPatchPolicies(set, gopts, gw)
	out := &Result{Gateway: gw, EnvoyPatchPolicies: policies}
	byName := map[string]*egv1a1.EnvoyPatchPolicy{}
	for _, p := range policies {
		byName[p.Namespace+"/"+p.Name] = p
	}
	keys := make([]string, 0, len(gw.XdsIR))
	for k := range gw.XdsIR {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		out.Fleets = append(out.Fleets, translateFleet(ctx, key, gw.XdsIR[key], opts, byName))
	}
	if opts.Memo != nil {
		for key := range opts.Memo.fleets {
			if gw.XdsIR[key] == nil {
				delete(opts.Memo.fleets, key)
			}
		}
	}
	markExtensionFailures(out)
	return out
}

func translateFleet(ctx context.Context, key string, x *ir.Xds, opts Options, policies map[string]*egv1a1.EnvoyPatchPolicy) *Fleet {
	f := &Fleet{Key: key, IR: x}
	res, err := translator.TranslateMemo(x, opts.fleetMemo(key))
	if err != nil {
		if errs, ok := err.(translator.Errors); ok {
			for _, e := range errs {
				f.Errors = append(f.Errors, e.Error())
			}
		} else {
			f.Errors = append(f.Errors, err.Error())
		}
	}
	f.Resources = res
	if !runExtensionHooks(ctx, f, x, opts.Extensions) {
		return f
	}
	if f.Resources != nil && len(x.EnvoyPatchPolicies) > 0 {
		f.Resources, f.Patches = patch.Apply(f.Resources, x.EnvoyPatchPolicies,
			patch.Options{Names: patch.NamesFor(x), RecordChanges: opts.RecordPatchChanges})
		for _, st := range f.Patches {
			if p := policies[st.Namespace+"/"+st.Name]; p != nil && len(p.Status.Ancestors) > 0 {
				a := &p.Status.Ancestors[0]
				a.Conditions = conditions.Set(a.Conditions, st.Programmed)
			}
		}
	}
	runTranslationHook(ctx, f, x, opts.Extensions)
	return f
}

// TranslationOptions maps the EnvoyGateway configuration onto the Gateway
// API translator's options.
func TranslationOptions(cfg *egv1a1.EnvoyGateway) gatewayapi.Options {
	opts := gatewayapi.Options{HostInfrastructure: true}
	if cfg == nil {
		return opts
	}
	if cfg.Gateway != nil {
		opts.ControllerName = cfg.Gateway.ControllerName
	}
	if cfg.ExtensionAPIs != nil {
		opts.EnableBackend = cfg.ExtensionAPIs.EnableBackend
		opts.EnableEnvoyPatchPolicy = cfg.ExtensionAPIs.EnableEnvoyPatchPolicy
		opts.EnableLua = cfg.ExtensionAPIs.EnableLua
	}
	if cfg.RuntimeFlags != nil {
		for _, f := range cfg.RuntimeFlags.Enabled {
			if strings.EqualFold(string(f), "XDSNameSchemeV2") {
				opts.XDSNameSchemeV2 = true
			}
		}
	}
	return opts
}

// ErrorsOf flattens every fleet's errors as "<fleet>: <error>".
func ErrorsOf(r *Result) []string {
	var out []string
	for _, f := range r.Fleets {
		for _, e := range f.Errors {
			out = append(out, fmt.Sprintf("%s: %s", f.Key, e))
		}
	}
	return out
}
