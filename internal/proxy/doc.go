// Package proxy is Portico's built-in data plane: an HTTP proxy configured
// only through xDS (delta ADS over gRPC, or SotW with Options.SotW), behaving as Envoy does for the
// config Portico emits. Anything it cannot honour is NACKed with a precise
// reason naming the resource and field; nothing is silently ignored.
//
//	p, _ := proxy.New(proxy.Options{XDSAddress: "127.0.0.1:18000", NodeID: "n1", Cluster: "c"})
//	go p.Run(ctx)
//	p.WaitFor(ctx, func(s proxy.Status) bool { return s.Ready })
//
// # Rooms
//
// Each concern is a package that imports only those below it
// (imports_test.go keeps it so, and keeps the control plane out):
//
//	proxy (this package)  Proxy and Options; the xdsclient.Handler that compiles
//	                      each type with its room's compiler, binds, links, serves
//	xdsclient             ADS sessions (SotW, delta) and the accepted State
//	listener              listeners: compile, link, sockets, connection limit
//	hcm                   the HttpConnectionManager and router around a StreamInfo
//	route, accesslog      route configurations; access logs and their filters
//	cluster, filters      clusters, hosts, balancing, Upstreams; the filter contract
//	h1client, tlsconf     the HTTP/1.1 upstream client; TLS contexts and secrets
//	streaminfo, pathnorm, xdsconf, match, budget, h1srv   leaves
//
// Filters live under filters/, one package each, linked by filters/all.
//
// # xDS
//
// One ADS stream subscribes to CDS and LDS (wildcard), then to the EDS, RDS
// and SDS (Secret) names they reference. Incremental (delta) xDS is the
// default, as Envoy runs under Portico: responses carry what changed and
// the names removed, and are merged into a copy of the type's state. Each
// response is compiled and the result checked in full before it is ACKed;
// any error NACKs it with error_detail and the previous config keeps
// serving. A resource (or a route configuration's virtual host) whose
// bytes equal the previous response's reuses its compiled form, so a push
// costs what changed. A listener whose port cannot be bound NACKs
// the LDS update. Config is served only once every referenced RDS/EDS has
// arrived (Envoy's warming), or after InitialFetchTimeout without them
// (missing RDS: 404s, missing EDS: 503 no healthy upstream). Each swap
// builds an immutable runtime; a request uses the one it started with.
//
// # Listeners and the HttpConnectionManager
//
// TCP socket addresses, served with HTTP/1.1 and h2c (prior knowledge), or
// TLS with ALPN h2/http/1.1; codec_type HTTP1/HTTP2 closes connections of
// the other protocol. Filter chains
// (filter_chains and default_filter_chain) each hold exactly one HCM and are
// chosen as Envoy does by filter_chain_match server_names (exact, then the
// longest wildcard, then chains without names, then the default chain);
// transport_protocol and destination_port are checked. Downstream TLS from a
// DownstreamTlsContext: certificates inline or over SDS, ALPN, TLS versions,
// client certificate validation; an SNI no chain matches fails the
// handshake. A listener mixing TLS and plaintext chains is NACKed. Removed or moved listeners drain: they stop
// accepting and in-flight requests finish (DrainTimeout). Supported HCM
// settings: rds (ADS) or inline route_config, http_filters, local_reply_config
// (status_code, duration, header, response_flag, not_health_check, and/or
// filters; status/body rewrite, headers_to_add, text/json body_format),
// server_name and server_header_transformation, use_remote_address and
// x-forwarded-for, generate_request_id, preserve_external_request_id,
// internal_address_config (see hcm/request.go: untrusted x-envoy-* headers
// are removed as Envoy does), normalize_path, merge_slashes and
// path_with_escaped_slashes_action (package pathnorm: Envoy's rules, checked
// against Envoy's own test cases), strip_any_host_port, websocket
// upgrade_configs at HCM and route level (the route's entry wins; an
// upgrade the route does not allow gets 403, CONNECT too),
// max_request_headers_kb (default 60) and common_http_protocol_options
// max_headers_count (default 100), answered 431 as the head arrives,
// idle_timeout (from the accept on) and headers_with_underscores_action,
// request_headers_timeout (408 without a body), stream_idle_timeout (default
// 5m, 408 "stream timeout", covering a partial head and a stalled body) and
// request_timeout (408 "request timeout"), access_log (file, stdout and stderr loggers,
// buffered and flushed within a second as Envoy buffers file logs; text
// or JSON formats with the common commands, unknown commands NACK; access log
// filters as for local replies; /dev/stdout is Options.AccessLog). An HCM
// without access_log logs in Envoy's default format to Options.AccessLog
// (Envoy would log nothing; io.Discard turns it off). Listener-level
// access_log is accepted with a warning in Status.Warnings, not written.
//
// # Downstream HTTP/1
//
// Plaintext HTTP/1 is served by h1srv in Strict mode: Envoy's codec rules
// (Content-Length with Transfer-Encoding, Transfer-Encoding on HTTP/1.0:
// 400; versions other than 1.0 and 1.1: 505; a malformed chunk: 400, all
// closing the connection). The head's bounds and timeouts follow every
// config update. A response does not wait for the rest of the request
// body: when the handler is done first, the connection closes after the
// response, so a 408 or 504 reaches a client whose upload stalled. A
// client that half-closes before its request is complete gets no
// response; the upstream request is reset. Expect: 100-continue is
// answered by the proxy and not forwarded.
//
// The listeners share a downstream connection limit (listener/connlimit.go, Envoy's
// global_downstream_max_connections): Options.MaxDownstreamConnections, by
// default derived from the file descriptor limit and shared by the
// proxies of a process, so that admin, xDS and upstream connections keep
// descriptors under a flood. At the limit the longest-idle connections are
// closed to make room, else the new connection is closed; listeners with
// ignore_global_conn_limit are not counted.
//
// # Routing
//
// Domains: exact, suffix and prefix wildcards (longest first) and "*",
// ignore_port_in_host_matching. Matches: prefix, path, safe_regex,
// path_separated_prefix, case_sensitive, headers (all HeaderMatcher kinds),
// query_parameters, grpc. Actions: cluster, cluster_header,
// weighted_clusters (with their header ops and host rewrite), prefix_rewrite,
// regex_rewrite, host_rewrite_literal/auto_host_rewrite/host_rewrite_header,
// timeout (default 15s, running from the end of the request, and ended by
// an upgrade's 101), idle_timeout, retry_policy (5xx, gateway-error,
// reset, connect-failure, retriable-4xx, retriable-status-codes, gRPC
// statuses; per_try_timeout; jittered back-off; bodies up to 1 MiB are
// replayed), include_request_attempt_count / include_attempt_count_in_response,
// request_mirror_policies (see route/mirror.go), direct_response, redirect.
// Request/response header add/remove at route configuration, virtual host,
// route and weighted cluster level, in Envoy's order
// (most_specific_header_mutations_wins honoured).
//
// Envoy's local replies: 404 with no body and flag NR for no route; 503
// "no healthy upstream" (UH); 503 "upstream connect error or disconnect/reset
// before headers. reset reason: connection failure" (UF); 502 "... reset
// reason: protocol error" (UPE) for an upstream response head over 80 KiB;
// 504 "upstream
// request timeout" (UT); 408 "stream timeout" (SI); cluster_not_found (NC).
// Local replies to gRPC requests are trailers-only gRPC errors.
//
// # Clusters
//
// EDS (over ADS), STATIC, STRICT_DNS and LOGICAL_DNS (resolved at connect
// time with the system resolver, i.e. LOGICAL_DNS semantics); socket and pipe
// (unix socket) endpoints; endpoint health_status and load_balancing_weight;
// the highest priority with healthy endpoints is used and locality weights
// are folded into endpoint weights. Balancers: round robin (smooth weighted),
// least request (power of choice_count on in-flight requests), random; from
// lb_policy or the first supported loadBalancingPolicy extension. Upstream
// HTTP/1.1, HTTP/2 (h2c, or TLS ALPN), auto_config, use_downstream_protocol.
// Plaintext HTTP/1.1 goes through the proxy's own client (package h1client: the
// exchange runs on the request's goroutine, connections are pooled per
// host); HTTP/2, TLS and websocket upgrades through net/http's Transport.
// The former adds no User-Agent (as Envoy; net/http adds Go-http-client),
// and a downstream Connection: close does not close upstream connections.
// Upstream TLS from an UpstreamTlsContext: SNI, trusted_ca and SAN matchers
// (inline, over SDS, or combined), client certificates, ALPN, TLS versions.
// cipher_suites/ecdh_curves are accepted with a warning (Go's defaults).
// circuit_breakers (default priority): max_requests (503 overflow, UO) and
// max_retries are enforced per cluster; max_connections is applied per host
// and max_pending_requests is accepted with a warning. outlier_detection:
// consecutive 5xx and consecutive gateway failure ejection (Envoy's
// defaults, growing ejection time, max_ejection_percent with at least one
// host, healthy_panic_threshold); success-rate and failure-percentage
// ejection are accepted with a warning.
//
// # HTTP filters
//
// Filters come from the registry in package filters, keyed by typed_config
// type URL, one file per filter. `disabled` and typed_per_filter_config
// (FilterConfig or the filter's own per-route type) are honoured at route
// configuration, virtual host and route level, most specific wins
// (weighted-cluster entries are validated but do not enable filters yet). The router must be last. An unknown filter NACKs the
// listener even when disabled: a later route config could enable it, and a
// route config's validity must not depend on which listener uses it (Envoy
// does the same). HttpFilter.is_optional lets an unknown filter be skipped.
// An unknown per-route config type NACKs the route configuration unless its
// FilterConfig is_optional. The filters: router, health_check, lua, wasm,
// basic_auth, jwt_authn, ext_authz (gRPC and HTTP), rbac (matcher form),
// cors, api_key_auth and stateful_session, each a package under filters/
// whose doc comment lists what it rejects by name. A filter may name the
// host the router should use (Stream.UpstreamOverrideHost, Envoy's
// upstream override host): the first attempt goes there when the cluster
// has it among the hosts balancing may pick (cluster.PickOverride), and
// s.Info.UpstreamHost tells the filter, before the response headers go
// out, which host answered.
//
// # NACKed (not supported yet)
//
// filter_chain_match other than server_names/transport_protocol/
// destination_port, listener filters other than tls_inspector, ring_hash/maglev, HTTP/3, rate
// limits, CORS/virtual-host require_tls, max_stream_duration, metadata
// matching, runtime fractions, and any field not listed above (the NACK names
// the field).
package proxy
