// Package filters is the contract between the built-in proxy and its
// HTTP filters, and their registry. A filter needs nothing else from the
// proxy: what it may see and do to a stream is here.
//
// # Registering
//
// A filter is a package under filters/ whose init calls Register with a
// Factory keyed by the type URL of its typed_config (and the per-route
// config types it parses). Package filters/all imports every filter
// package: it is the one list, the proxy imports it, and its test fails
// when a package that registers a filter is missing from it. The HCM
// looks factories up by type URL; nothing in the proxy switches on filter
// kinds. The router, the end of every chain, is part of this package.
//
// New and PerRoute run when a config arrives. An error NACKs the config:
// a setting a filter cannot honour is an error, never ignored. New gets a
// BuildContext (whether the proxy serves, the clusters for work done
// outside any request, the proxy's logger, script budgets). A filter is
// immutable once built and shared by every request of its config:
// per-request state belongs in Serve.
//
// # A stream's life
//
// Serve(s, next) runs on the request's own goroutine, for each request
// whose route enables the filter (the HCM entry's disabled, overridden by
// the most specific typed_per_filter_config). Before next is the request
// side (Envoy's decodeHeaders/decodeData). next runs the rest of the chain
// and the router; when it returns, the response has been written through
// s.Writer (or is held by a writer a filter installed), so code after next
// is the end of the stream (Envoy's last encodeData, onDestroy). A filter
// that does not call next ends the chain and must have answered
// (LocalReply).
//
// Stop and resume: a filter that must wait (an authorization server, a
// module still loading, the rest of a body) blocks in Serve and calls next
// when it may go on; Envoy's StopIteration and continueDecoding are not
// calling next yet and then calling it. Waits honour s.Request.Context(),
// which ends when the client leaves or a stream timer fires (stream idle,
// request timeout); the HCM then answers or resets the stream. On the
// response side a writer holds the stream by blocking in WriteHeader or
// Write, or by keeping what it was given until the stream ends.
//
// # Headers and routes
//
// Request headers are edited in place (s.Request.Header, Host, URL,
// Method); after a change to what routes match on, s.ClearRouteCache
// selects the route again (RouteName, PerRoute and RouteMetadata follow).
// Response headers are edited by wrapping s.Writer before next:
// HookWriter sees the status and headers before the status line goes out.
//
// # Bodies
//
// Buffered: ReadRequestBody reads the request body up to a limit and puts
// what it read back in front of the rest, so the upstream still gets all
// of it; SetRequestBody replaces it (Content-Length follows).
// BufferResponse holds the response until the stream ends, so the filter
// reads and replaces it, status and headers included. Past its limit a
// buffered body is ErrBodyTooLarge: Envoy answers 413 for a request and
// 500 for a response, and so should a filter.
//
// Streamed: a filter replaces s.Request.Body with a reader that passes the
// chunks on, changed or not (when it may change the length it sets
// s.Request.ContentLength to -1 and removes Content-Length), and wraps
// s.Writer, whose Write sees the response body as the router copies it
// (Flush after each chunk when the length is unknown, as gRPC needs). A
// filter that holds data back simply does not return it yet.
//
// # Trailers
//
// There is no trailer hook: trailers follow net/http. The request's are
// s.Request.Trailer, filled when its body has been read to the end (names
// the client declared may be there earlier, without values); a filter
// that must see them before the upstream does reads the body first
// (ReadRequestBody, or to EOF), and what it leaves in Request.Trailer goes
// upstream (chunked over HTTP/1.1, which needs ContentLength -1). The
// response's are keys of s.Writer.Header() prefixed with http.TrailerPrefix,
// which the router sets after copying the body and before next returns:
// a filter reads and edits them there after next. A writer that holds the
// body must pass Flush on once it holds nothing: an HTTP/1.1 downstream
// whose handler ends before anything was flushed may frame the response
// with a Content-Length, and then no trailers go out.
//
// # Local replies
//
// s.LocalReply(code, body, details) answers from the proxy, through the
// HCM's local_reply_config (mappers, body formats; a gRPC request gets a
// trailers-only gRPC error). Headers set on s.Writer.Header() before it go
// out with it. details is Envoy's response code details, which access logs
// show (%RESPONSE_CODE_DETAILS%). A local reply is only possible before
// the response's status line has gone out.
//
// # Calling clusters
//
// s.Upstreams (the clusters of the config the request runs on) or
// BuildContext.Upstreams() (outside a request) reach a cluster by name,
// with its balancing, protocol (HTTP/1.1 or HTTP/2), TLS (per endpoint,
// by transport socket match) and connection pools, unix sockets included:
// RoundTrip for HTTP; GRPCCall for a unary gRPC call and OpenGRPCStream
// for a bidirectional stream (both over RoundTrip, so the cluster must
// speak HTTP/2, as Envoy Gateway configures gRPC services; their errors
// are gRPC status errors); Dial for a raw connection (TLS when the host
// has TLS). Calls run under the request's context or a deadline of their
// own.
//
// # Metadata and stream info
//
// s.PerRoute(name) is the parsed per-route config of the filter instance
// name. s.RouteMetadata(namespace) is the route's filter_metadata.
// s.DynamicMetadata() is the stream's dynamic metadata by namespace (a
// filter's name), shared by the chain: a filter writes its own namespace
// (jwt_authn its payloads, ext_proc what its processor returns) and later
// ones read it (rbac, ext_authz, ext_proc, Lua), as do the route's
// %DYNAMIC_METADATA(ns:key)% header values.
// s.Metadata carries other per-request values between filters. s.Info is
// Envoy's StreamInfo: the protocol, addresses, route, and as the stream
// goes the response code, flags and upstream host; filters read it only.
package filters
