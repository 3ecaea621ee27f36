package support

// Ledger is the one table of what Portico does with each field of each kind it
// loads. An entry covers its field and everything under it, except where a
// longer entry says otherwise. A Supported entry covers at most
// maxSupportedFields schema fields: larger structures are listed field by field,
// so that a field added to them by a new CRD version is noticed.
//
// To support a field, implement it and change its row to yes(...); the
// condition it produced goes away by itself (translators ask Findings).
var Ledger = []Entry{
	// gateway.networking.k8s.io
	yes("GatewayClass", "spec.controllerName", ""),
	yes("GatewayClass", "spec.description", "informational"),
	yes("GatewayClass", "spec.parametersRef", "an EnvoyProxy"),

	yes("Gateway", "spec.gatewayClassName", ""),
	noEffect("Gateway", "spec.addresses", "listeners bind this host's addresses (portico run --listener-address)"),
	notYet("Gateway", "spec.allowedListeners", GatewayNoted, "ListenerSets are not translated yet"),
	notYet("Gateway", "spec.defaultScope", GatewayNoted, "default Gateways", `"None"`),
	noEffect("Gateway", "spec.infrastructure.annotations", "labels of Kubernetes resources"),
	noEffect("Gateway", "spec.infrastructure.labels", "labels of Kubernetes resources"),
	yes("Gateway", "spec.infrastructure", ""),
	yes("Gateway", "spec.infrastructure.parametersRef", "an EnvoyProxy in the Gateway's namespace; it replaces the GatewayClass's"),
	yes("Gateway", "spec.listeners", ""),
	yes("Gateway", "spec.listeners[].name", ""),
	yes("Gateway", "spec.listeners[].hostname", ""),
	yes("Gateway", "spec.listeners[].port", "ports below 1024 are served on port+10000, as Envoy Gateway does"),
	yes("Gateway", "spec.listeners[].protocol", "HTTP, HTTPS, TLS, TCP and UDP"),
	yes("Gateway", "spec.listeners[].allowedRoutes", "HTTPRoute and GRPCRoute on HTTP(S), TCPRoute on TCP, TLSRoute on TLS, UDPRoute on UDP"),
	yes("Gateway", "spec.listeners[].allowedRoutes.namespaces", ""),
	yes("Gateway", "spec.listeners[].tls", ""),
	yes("Gateway", "spec.listeners[].tls.certificateRefs", "Secrets"),
	yes("Gateway", "spec.listeners[].tls.mode", "Terminate; Passthrough on TLS listeners"),
	notYet("Gateway", "spec.listeners[].tls.options", ListenerRejected, ""),
	yes("Gateway", "spec.tls", ""),
	notYet("Gateway", "spec.tls.backend", GatewayNoted, "no client certificate is presented to backends"),
	notYet("Gateway", "spec.tls.frontend", ListenerRejected, "client certificate validation; fails closed on the HTTPS listeners"),

	yes("HTTPRoute", "spec.hostnames", ""),
	yes("HTTPRoute", "spec.parentRefs", "Gateways; a ListenerSet parent is Accepted=False (UnsupportedKind)"),
	notYet("HTTPRoute", "spec.useDefaultGateways", RouteNoted, "default Gateways: the route attaches through parentRefs only", `"None"`),
	yes("HTTPRoute", "spec.rules", ""),
	yes("HTTPRoute", "spec.rules[].name", ""),
	yes("HTTPRoute", "spec.rules[].matches", ""),
	yes("HTTPRoute", "spec.rules[].filters", ""),
	yes("HTTPRoute", "spec.rules[].filters[].type", "a type not listed as supported below makes the rule answer 500"),
	yes("HTTPRoute", "spec.rules[].filters[].requestHeaderModifier", ""),
	yes("HTTPRoute", "spec.rules[].filters[].responseHeaderModifier", ""),
	yes("HTTPRoute", "spec.rules[].filters[].requestMirror", ""),
	yes("HTTPRoute", "spec.rules[].filters[].requestRedirect", ""),
	yes("HTTPRoute", "spec.rules[].filters[].urlRewrite", ""),
	yes("HTTPRoute", "spec.rules[].filters[].extensionRef", "kinds of a configured extension server, handed to its Route hook; a missing object is ResolvedRefs=False and another kind PartiallyInvalid=True, the rule answering 500"),
	yes("HTTPRoute", "spec.rules[].filters[].cors", "preflights answered by the proxy; wins over a SecurityPolicy's cors on the same route"),
	notYet("HTTPRoute", "spec.rules[].filters[].externalAuth", RuleFails, "a security control: the rule fails closed"),
	yes("HTTPRoute", "spec.rules[].backendRefs", "Services and Backends"),
	notYet("HTTPRoute", "spec.rules[].backendRefs[].filters", RuleFails, ""),
	yes("HTTPRoute", "spec.rules[].timeouts", ""),
	yes("HTTPRoute", "spec.rules[].retry", ""),
	yes("HTTPRoute", "spec.rules[].sessionPersistence", "Envoy's stateful_session filter, as Envoy Gateway configures it (proxy: the upstream override host)"),
	yes("HTTPRoute", "spec.rules[].sessionPersistence.sessionName", "the cookie's or header's name; defaults to the rule's name with / made -"),
	yes("HTTPRoute", "spec.rules[].sessionPersistence.type", "Cookie (Path from the route's path match, HttpOnly) and Header: the value is base64 of the host's ip:port"),
	yes("HTTPRoute", "spec.rules[].sessionPersistence.absoluteTimeout", "the cookie's Max-Age with lifetimeType Permanent; with a Session cookie the rule fails (PartiallyInvalid): the gateway does not time sessions out (Envoy Gateway ignores it there)"),
	yes("HTTPRoute", "spec.rules[].sessionPersistence.cookieConfig", "lifetimeType Permanent and Session"),

	yes("ReferenceGrant", "spec.from", ""),
	yes("ReferenceGrant", "spec.to", ""),

	yes("GRPCRoute", "spec.hostnames", ""),
	yes("GRPCRoute", "spec.parentRefs", "Gateways (HTTP and HTTPS listeners); a ListenerSet parent is Accepted=False (UnsupportedKind)"),
	notYet("GRPCRoute", "spec.useDefaultGateways", RouteNoted, "default Gateways: the route attaches through parentRefs only", `"None"`),
	yes("GRPCRoute", "spec.rules", ""),
	yes("GRPCRoute", "spec.rules[].name", ""),
	yes("GRPCRoute", "spec.rules[].matches", "method Exact and RegularExpression, headers"),
	yes("GRPCRoute", "spec.rules[].filters", ""),
	yes("GRPCRoute", "spec.rules[].filters[].type", "a type not listed as supported below makes the rule answer 500"),
	yes("GRPCRoute", "spec.rules[].filters[].requestHeaderModifier", ""),
	yes("GRPCRoute", "spec.rules[].filters[].responseHeaderModifier", ""),
	yes("GRPCRoute", "spec.rules[].filters[].requestMirror", ""),
	yes("GRPCRoute", "spec.rules[].filters[].extensionRef", "kinds of a configured extension server, handed to its Route hook; a missing object is ResolvedRefs=False and another kind PartiallyInvalid=True, the rule answering 500"),
	yes("GRPCRoute", "spec.rules[].backendRefs", "Services and Backends, over HTTP/2"),
	notYet("GRPCRoute", "spec.rules[].backendRefs[].filters", RuleFails, ""),
	yes("GRPCRoute", "spec.rules[].sessionPersistence", "Envoy's stateful_session filter, as Envoy Gateway configures it (proxy: the upstream override host); Envoy Gateway ignores it on a GRPCRoute, Portico applies it as on an HTTPRoute"),
	yes("GRPCRoute", "spec.rules[].sessionPersistence.sessionName", "the cookie's or header's name; defaults to the rule's name with / made -"),
	yes("GRPCRoute", "spec.rules[].sessionPersistence.type", "Cookie (Path from the route's path match, HttpOnly) and Header: the value is base64 of the host's ip:port"),
	yes("GRPCRoute", "spec.rules[].sessionPersistence.absoluteTimeout", "the cookie's Max-Age with lifetimeType Permanent; with a Session cookie the rule fails (PartiallyInvalid): the gateway does not time sessions out (Envoy Gateway ignores it there)"),
	yes("GRPCRoute", "spec.rules[].sessionPersistence.cookieConfig", "lifetimeType Permanent and Session"),
	yes("TCPRoute", "spec.parentRefs", "TCP listeners (one route each); a ListenerSet parent is Accepted=False (UnsupportedKind)"),
	notYet("TCPRoute", "spec.useDefaultGateways", RouteNoted, "default Gateways: the route attaches through parentRefs only", `"None"`),
	yes("TCPRoute", "spec.rules", "exactly one rule"),
	yes("TCPRoute", "spec.rules[].name", ""),
	yes("TCPRoute", "spec.rules[].backendRefs", "Services (TCP ports) and Backends"),
	yes("TLSRoute", "spec.hostnames", "the SNI of the filter chain"),
	yes("TLSRoute", "spec.parentRefs", "TLS listeners in Passthrough or Terminate mode"),
	notYet("TLSRoute", "spec.useDefaultGateways", RouteNoted, "default Gateways: the route attaches through parentRefs only", `"None"`),
	yes("TLSRoute", "spec.rules", "the backends of every rule are pooled, as Envoy Gateway does"),
	yes("TLSRoute", "spec.rules[].name", ""),
	yes("TLSRoute", "spec.rules[].backendRefs", "Services (TCP ports) and Backends"),
	yes("UDPRoute", "spec.parentRefs", "UDP listeners (one route each)"),
	notYet("UDPRoute", "spec.useDefaultGateways", RouteNoted, "default Gateways: the route attaches through parentRefs only", `"None"`),
	yes("UDPRoute", "spec.rules", "exactly one rule"),
	yes("UDPRoute", "spec.rules[].name", ""),
	yes("UDPRoute", "spec.rules[].backendRefs", "Services (UDP ports) and Backends"),
	notYet("ListenerSet", "spec", KindRejected, "its listeners and the routes attached to it too"),
	yes("BackendTLSPolicy", "spec.targetRefs", "Services (sectionName: a port name) and Backends"),
	yes("BackendTLSPolicy", "spec.validation", "ConfigMap and Secret CAs, wellKnownCACertificates System, hostname (SNI), subjectAltNames; an invalid policy fails closed"),
	notYet("BackendTLSPolicy", "spec.options", PolicyRejected, "TLS still applies as the rest of the policy says"),

	// gateway.envoyproxy.io
	yes("Backend", "spec.type", "Endpoints"),
	notYet("Backend", "spec.type", BackendRejected, "", "").withValue("DynamicResolver"),
	yes("Backend", "spec.endpoints", ""),
	yes("Backend", "spec.endpoints[].ip", ""),
	yes("Backend", "spec.endpoints[].fqdn", ""),
	yes("Backend", "spec.endpoints[].unix", "for external services; a route backendRef cannot use it"),
	notYet("Backend", "spec.endpoints[].hostname", BackendRejected, ""),
	noEffect("Backend", "spec.endpoints[].zone", "zone-aware routing needs Kubernetes topology"),
	yes("Backend", "spec.appProtocols", "gateway.envoyproxy.io/h2c"),
	notYet("Backend", "spec.fallback", BackendRejected, ""),
	notYet("Backend", "spec.tls", BackendRejected, "a security control: fails closed"),

	yes("EnvoyExtensionPolicy", "spec.targetRef", ""),
	yes("EnvoyExtensionPolicy", "spec.targetRefs", ""),
	yes("EnvoyExtensionPolicy", "spec.targetSelectors", ""),
	yes("EnvoyExtensionPolicy", "spec.lua", ""),
	yes("EnvoyExtensionPolicy", "spec.wasm", "modules the control plane downloads and serves to proxies"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].name", ""),
	yes("EnvoyExtensionPolicy", "spec.wasm[].rootID", ""),
	yes("EnvoyExtensionPolicy", "spec.wasm[].config", ""),
	yes("EnvoyExtensionPolicy", "spec.wasm[].failOpen", ""),
	yes("EnvoyExtensionPolicy", "spec.wasm[].env", "host environment variables of the proxy"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code", ""),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code.type", "HTTP and Image"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code.http", "a CA of tls.caCertificateRef from a ConfigMap or Secret"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code.pullPolicy", "Always downloads again when the policy changes"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code.image", "Docker, OCI and Wasm artifact images and image indexes"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code.image.url", "oci:// and :latest added as Envoy Gateway adds them"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code.image.sha256", "the image manifest digest"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code.image.pullSecretRef", "checked against the registry even when the module is cached"),
	yes("EnvoyExtensionPolicy", "spec.wasm[].code.image.tls", "a CA of tls.caCertificateRef from a ConfigMap or Secret"),
	notYet("EnvoyExtensionPolicy", "spec.wasm[].code.configMap", FailClosedUnlessFailOpen, ""),
	yes("EnvoyExtensionPolicy", "spec.extProc", "messageTimeout, failOpen, shadowMode, statusOnError"),
	yes("EnvoyExtensionPolicy", "spec.extProc[].backendRef", "refused with Envoy Gateway's message: backendRefs must be used"),
	yes("EnvoyExtensionPolicy", "spec.extProc[].backendRefs", "Services and Backends (ip, fqdn, unix), weights, fallback"),
	notYet("EnvoyExtensionPolicy", "spec.extProc[].backendSettings", PolicyRejected, "the processor's cluster keeps Envoy Gateway's defaults"),
	yes("EnvoyExtensionPolicy", "spec.extProc[].processingMode", "every body mode, attributes, allowModeOverride"),
	yes("EnvoyExtensionPolicy", "spec.extProc[].metadata", ""),
	notYet("EnvoyExtensionPolicy", "spec.dynamicModule", FailClosed, ""),

	yes("EnvoyPatchPolicy", "spec.type", "JSONPatch"),
	yes("EnvoyPatchPolicy", "spec.priority", ""),
	yes("EnvoyPatchPolicy", "spec.targetRef", "a Gateway, or a GatewayClass whose gateways are merged"),
	yes("EnvoyPatchPolicy", "spec.jsonPatches", ""),

	notYet("EnvoyProxy", "spec.backendTLS", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.bootstrap", PolicyRejected, "validated with Envoy Gateway's rules (an invalid one makes its users InvalidParameters); a valid one is not applied yet"),
	notYet("EnvoyProxy", "spec.concurrency", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.dynamicModules", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.extraArgs", PolicyRejected, "command line arguments of an Envoy process"),
	yes("EnvoyProxy", "spec.filterOrder", ""),
	notYet("EnvoyProxy", "spec.geoIP", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.ipFamily", PolicyRejected, ""),
	noEffect("EnvoyProxy", "spec.logging", "the built-in proxy logs with portico", `{"level":{"default":"warn"}}`),
	yes("EnvoyProxy", "spec.lua", ""),
	yes("EnvoyProxy", "spec.luaValidation", ""),
	yes("EnvoyProxy", "spec.mergeGateways", ""),
	notYet("EnvoyProxy", "spec.mergeType", PolicyRejected, "a Gateway's EnvoyProxy replaces the GatewayClass's"),
	yes("EnvoyProxy", "spec.preserveRouteOrder", ""),
	yes("EnvoyProxy", "spec.provider", ""),
	noEffect("EnvoyProxy", "spec.provider.type", "proxies run on this host"),
	noEffect("EnvoyProxy", "spec.provider.host", "the built-in proxy is used unless --data-plane envoy"),
	noEffect("EnvoyProxy", "spec.provider.kubernetes", "Kubernetes resources of the proxy; `portico server` applies them all (envoyDeployment or envoyDaemonSet, envoyService, envoyHpa, envoyPDB, envoyServiceAccount, patches)"),
	notYet("EnvoyProxy", "spec.routingType", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.shutdown", PolicyRejected, ""),
	yes("EnvoyProxy", "spec.telemetry", ""),
	yes("EnvoyProxy", "spec.telemetry.accessLog", ""),
	yes("EnvoyProxy", "spec.telemetry.accessLog.disable", ""),
	yes("EnvoyProxy", "spec.telemetry.accessLog.settings", ""),
	yes("EnvoyProxy", "spec.telemetry.accessLog.settings[].format", "Text and JSON"),
	notYet("EnvoyProxy", "spec.telemetry.accessLog.settings[].matches", PolicyRejected, "CEL filters"),
	yes("EnvoyProxy", "spec.telemetry.accessLog.settings[].sinks", ""),
	yes("EnvoyProxy", "spec.telemetry.accessLog.settings[].sinks[].type", "File"),
	yes("EnvoyProxy", "spec.telemetry.accessLog.settings[].sinks[].file", ""),
	notYet("EnvoyProxy", "spec.telemetry.accessLog.settings[].sinks[].als", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.telemetry.accessLog.settings[].sinks[].openTelemetry", PolicyRejected, ""),
	yes("EnvoyProxy", "spec.telemetry.accessLog.settings[].type", "Listener or Route"),
	yes("EnvoyProxy", "spec.telemetry.metrics", ""),
	yes("EnvoyProxy", "spec.telemetry.metrics.prometheus", ""),
	yes("EnvoyProxy", "spec.telemetry.metrics.prometheus.disable", "in Kubernetes the proxy's stats listener (19001), its metrics port and prometheus.io annotations are left out; laptop proxies keep their loopback stats endpoints"),
	notYet("EnvoyProxy", "spec.telemetry.metrics.prometheus.compression", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.telemetry.metrics.sinks", PolicyRejected, "OpenTelemetry stats sinks"),
	notYet("EnvoyProxy", "spec.telemetry.metrics.matches", PolicyRejected, "the built-in proxy keeps its fixed set of stats"),
	notYet("EnvoyProxy", "spec.telemetry.metrics.enableVirtualHostStats", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.telemetry.metrics.enablePerEndpointStats", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.telemetry.metrics.enableRequestResponseSizesStats", PolicyRejected, "the built-in proxy keeps no histograms"),
	notYet("EnvoyProxy", "spec.telemetry.metrics.clusterStatName", PolicyRejected, ""),
	notYet("EnvoyProxy", "spec.telemetry.tracing", PolicyRejected, ""),

	yes("SecurityPolicy", "spec.targetRef", ""),
	yes("SecurityPolicy", "spec.targetRefs", ""),
	yes("SecurityPolicy", "spec.targetSelectors", ""),
	yes("SecurityPolicy", "spec.apiKeyAuth", "keys from Secrets (client id: key), from headers, params or cookies"),
	yes("SecurityPolicy", "spec.authorization", "rules on methods, client CIDRs, JWT claims and scopes, headers; defaultAction"),
	yes("SecurityPolicy", "spec.authorization.rules", ""),
	yes("SecurityPolicy", "spec.authorization.rules[].principal", ""),
	notYet("SecurityPolicy", "spec.authorization.rules[].principal.clientIPGeoLocations", FailClosed, ""),
	yes("SecurityPolicy", "spec.basicAuth", "htpasswd {SHA} users from a Secret"),
	yes("SecurityPolicy", "spec.cors", "preflights answered by the proxy"),
	yes("SecurityPolicy", "spec.extAuth", "gRPC (envoy.service.auth.v3) and HTTP services; unix-socket Backends"),
	yes("SecurityPolicy", "spec.extAuth.grpc", ""),
	yes("SecurityPolicy", "spec.extAuth.grpc.backendRef", "a Service or Backend (deprecated: used when backendRefs is empty)"),
	yes("SecurityPolicy", "spec.extAuth.grpc.backendRefs", "Services and Backends, with their BackendTLSPolicy"),
	notYet("SecurityPolicy", "spec.extAuth.grpc.backendSettings", FailClosed, ""),
	yes("SecurityPolicy", "spec.extAuth.http", ""),
	yes("SecurityPolicy", "spec.extAuth.http.backendRef", "a Service or Backend (deprecated: used when backendRefs is empty)"),
	yes("SecurityPolicy", "spec.extAuth.http.backendRefs", "Services and Backends, with their BackendTLSPolicy"),
	notYet("SecurityPolicy", "spec.extAuth.http.backendSettings", FailClosed, ""),
	yes("SecurityPolicy", "spec.jwt", ""),
	yes("SecurityPolicy", "spec.jwt.providers", ""),
	yes("SecurityPolicy", "spec.jwt.providers[].remoteJWKS", "fetched through the proxy, cached, fetched again once when a token names an unknown key"),
	yes("SecurityPolicy", "spec.jwt.providers[].remoteJWKS.backendRef", "a Service or Backend (deprecated: used when backendRefs is empty)"),
	yes("SecurityPolicy", "spec.jwt.providers[].remoteJWKS.backendRefs", "Services and Backends, with their BackendTLSPolicy"),
	notYet("SecurityPolicy", "spec.jwt.providers[].remoteJWKS.backendSettings", FailClosed, ""),
	yes("SecurityPolicy", "spec.jwt.providers[].localJWKS", "inline, or a ConfigMap's jwks key"),
	yes("SecurityPolicy", "spec.jwt.providers[].extractFrom", ""),
	notYet("SecurityPolicy", "spec.oidc", FailClosed, ""),
}

// maxSupportedFields bounds the schema fields one Supported entry may cover.
const maxSupportedFields = 12

func yes(kind, path, note string) Entry {
	return Entry{Kind: kind, Path: path, State: Supported, Note: note}
}

// notYet is a field Portico does not implement; def is the JSON of a value
// that means "unset" (optional).
func notYet(kind, path string, effect Effect, note string, def ...string) Entry {
	e := Entry{Kind: kind, Path: path, State: NotYet, Effect: effect, Note: note}
	if len(def) > 0 {
		e.Default = def[0]
	}
	return e
}

func noEffect(kind, path, note string, def ...string) Entry {
	e := Entry{Kind: kind, Path: path, State: NoEffect, Note: note}
	if len(def) > 0 {
		e.Default = def[0]
	}
	return e
}

func (e Entry) withValue(v string) Entry {
	e.Value = v
	return e
}
