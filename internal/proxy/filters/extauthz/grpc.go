package extauthz

// The gRPC transport is filters.GRPCCall: a unary call over the cluster's
// own HTTP/2 transport (its hosts, balancing, TLS and pooled connections,
// unix sockets included).

// checkPath is the Authorization service's Check method.
const checkPath = "/envoy.service.auth.v3.Authorization/Check"

// maxResponseBytes bounds an HTTP authorization server's answer.
const maxResponseBytes = 4 << 20
