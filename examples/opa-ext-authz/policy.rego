# The OPA sidecar guide's policy (Envoy Gateway, "OPA Sidecar with Unix
# Domain Socket", step 2): allow a request only when the x-jwt-iss header
# that jwt_authn sets from the token's iss claim equals the ALLOWED_ISS
# environment variable of the OPA process.
package envoy.authz

import rego.v1

default allow := false

allow if {
	input.attributes.request.http.headers["x-jwt-iss"] == opa.runtime().env.ALLOWED_ISS
}
