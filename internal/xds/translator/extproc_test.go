package translator

import (
	"testing"
)

// The ext-proc corpus case (Envoy Gateway's xds-ir/ext-proc.yaml and its
// expected xDS) is compared by TestCompatEnvoyGateway; its route
// configuration differs only by the empty FilterConfig `config`, checked
// by TestExtProcCompatRoute.
func init() {
	compatDifferences["ext-proc"] = map[string]string{
		"route/envoy-gateway/gateway-1/http": "FilterConfig without Envoy Gateway's empty `config: {}` Any (see lua.go); compared by TestExtProcCompatRoute",
	}
}

func TestExtProcCompatRoute(t *testing.T) { compareRouteWithoutEmptyFilterConfig(t, "ext-proc", 5) }
