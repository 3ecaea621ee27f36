// Package gatewayapi translates Gateway API resources (and Envoy Gateway's
// policies as they are added) into the IR, and computes every object's status.
//
// Translate is a pure function: the same resource.Set gives byte-identical IR
// and statuses. Invalid input never stops translation; it becomes a condition
// on the object at fault, in the manner of Contour's DAG processors.
package gatewayapi

import (
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/resource"
)

// DefaultControllerName is Envoy Gateway's controller name; Portico answers
// to it so existing GatewayClasses need no change.
const DefaultControllerName = "gateway.envoyproxy.io/gatewayclass-controller"

// Options are the EnvoyGateway config settings the translation depends on.
type Options struct {
	// ControllerName selects the GatewayClasses this translator owns.
	ControllerName string
	// XDSNameSchemeV2 is the runtime flag of the same name.
	XDSNameSchemeV2 bool
	// EnableBackend is extensionApis.enableBackend.
	EnableBackend bool
	// EnableEnvoyPatchPolicy is extensionApis.enableEnvoyPatchPolicy.
	EnableEnvoyPatchPolicy bool
	// Standalone is true when Portico serves the result itself, without a
	// cluster (portico run): a Service whose endpoints cannot be known (no
	// EndpointSlice, no cluster IP, not ExternalName) is then a ResolvedRefs
	// problem of the routes that use it. Otherwise (x translate) it is a
	// destination without endpoints yet, as in a cluster before its pods
	// are ready.
	Standalone bool
	// ServiceStandIn, with Standalone, is the host:port that serves every
	// such Service instead (portico run --demo-backend).
	ServiceStandIn string
	// HostInfrastructure is true when proxies run on this host (standalone
	// mode), which is what makes loopback Backend addresses meaningful.
	HostInfrastructure bool
	// KubernetesInfrastructure is true when Portico makes the proxies'
	// Kubernetes objects (portico server): EnvoyProxy spec.provider's
	// Kubernetes settings then take effect.
	KubernetesInfrastructure bool
	// EnableLua is extensionApis.enableLua.
	EnableLua bool
	// LuaValidator checks Lua scripts; nil means luavalidate.Validate.
	LuaValidator LuaValidator
	// Wasm resolves Wasm code sources to fetched modules; nil fails every
	// Wasm entry (nothing was fetched).
	Wasm WasmModules
	// WasmServer is where proxies download modules (nil: Envoy Gateway's
	// in-cluster address).
	WasmServer *ir.WasmServer
	// Memo, when set, carries translated routes between calls (see Memo);
	// the result is the same without it.
	Memo *Memo
}

// Result is the output of one translation: the objects Portico owns, each
// carrying its computed status, and one IR per proxy fleet.
type Result struct {
	GatewayClasses []*gwapiv1.GatewayClass
	Gateways       []*gwapiv1.Gateway
	HTTPRoutes     []*gwapiv1.HTTPRoute
	// Backends are the Backend resources with their status (only when the
	// Backend API is enabled).
	Backends []*egv1a1.Backend
	// EnvoyProxies are the GatewayClass parameters, with their status.
	EnvoyProxies []*egv1a1.EnvoyProxy
	// EnvoyProxiesForGateways are the EnvoyProxies only Gateways name (by
	// infrastructure.parametersRef), with their status.
	EnvoyProxiesForGateways []*egv1a1.EnvoyProxy
	// EnvoyExtensionPolicies carry their status (one entry per ancestor).
	EnvoyExtensionPolicies []*egv1a1.EnvoyExtensionPolicy
	// SecurityPolicies carry their status (one entry per ancestor).
	SecurityPolicies []*egv1a1.SecurityPolicy
	// BackendTLSPolicies carry their status (one entry per ancestor).
	BackendTLSPolicies []*gwapiv1.BackendTLSPolicy
	GRPCRoutes         []*gwapiv1.GRPCRoute
	TLSRoutes          []*gwapiv1.TLSRoute
	TCPRoutes          []*gwapiv1.TCPRoute
	UDPRoutes          []*gwapiv1.UDPRoute
	// ListenerSets are loaded but not translated yet; they carry a status
	// that says so (Accepted=False, UnsupportedKind).
	ListenerSets []*gwapiv1.ListenerSet
	// XdsIR is keyed by "<namespace>/<gateway>", or by the GatewayClass name
	// when its EnvoyProxy merges gateways.
	XdsIR map[string]*ir.Xds
}

// translation is the working state of one Translate call. It exists only for
// the duration of the call, which keeps Translate free of shared state.
type translation struct {
	opts     Options
	in       *resource.Set
	index    *index
	gateways []*gatewayContext
	backends map[string]*backendInfo
	proxies  map[string]*proxyInfo
	btls     *backendTLSPolicies
	result   *Result
}

// Translate turns the input set into IR and statuses.
func Translate(in *resource.Set, opts Options) *Result {
	if ext := newExtensionPass(in); ext != nil {
		opts.Memo = nil // the pass translates a rewritten input
		return ext.translate(opts)
	}
	if opts.Memo != nil {
		opts.Memo.begin(in, opts)
		defer opts.Memo.end()
	}
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	t := &translation{
		opts:    opts,
		in:      in,
		index:   newIndex(in),
		result:  &Result{XdsIR: map[string]*ir.Xds{}},
		proxies: map[string]*proxyInfo{},
	}
	classes := t.processGatewayClasses()
	t.processGateways(classes)
	t.collectEnvoyProxies()
	t.processBackends()
	t.prepareBackendTLSPolicies()
	t.processHTTPRoutes()
	t.processGRPCRoutes()
	t.processLayer4Routes()
	t.processListenerSets()
	t.recordRouteBackendTLS()
	t.processSecurityPolicies()
	t.processEnvoyExtensionPolicies()
	t.finishBackendTLSPolicies()
	t.finish()
	return t.result
}

// finish completes listener statuses (attached route counts are known only
// after every route was seen), orders routes by Gateway API precedence and
// assembles the IR per proxy fleet. IR listeners keep the order of the
// Gateways (oldest first) and of their spec, as Envoy Gateway's do: the
// first declared listener of a port names the Envoy listener that several
// HTTPS listeners share, and patches are written against that name.
func (t *translation) finish() {
	for _, gc := range t.gateways {
		key := gc.irKey
		x := t.result.XdsIR[key]
		if x == nil {
			x = &ir.Xds{
				ReadyListener: &ir.ReadyListener{
					Address:  "0.0.0.0",
					Port:     19003,
					Path:     "/ready",
					IPFamily: "IPv4",
				},
				AccessLog:       accessLogIR(gc.proxy),
				XDSNameSchemeV2: t.opts.XDSNameSchemeV2,
				FilterOrder:     filterOrder(gc.proxy),
			}
			t.result.XdsIR[key] = x
		}
		for _, lc := range gc.listeners {
			lc.status.AttachedRoutes = lc.attachedRoutes
			if lc.ir == nil {
				continue
			}
			if !preserveRouteOrder(gc.proxy) {
				sortRoutes(lc.ir.Routes)
			}
			x.HTTP = append(x.HTTP, lc.ir)
		}
		appendLayer4Listeners(x, gc)
	}
	if t.opts.WasmServer != nil {
		for _, x := range t.result.XdsIR {
			if usesWasm(x) {
				x.GlobalResources = &ir.GlobalResources{WasmServer: t.opts.WasmServer}
			}
		}
	}
}

func usesWasm(x *ir.Xds) bool {
	for _, l := range x.HTTP {
		for _, r := range l.Routes {
			if r.EnvoyExtensions != nil && len(r.EnvoyExtensions.Wasms) > 0 {
				return true
			}
		}
	}
	return false
}
