package extension

import (
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

type (
	endpointPolicy  = endpointv3.ClusterLoadAssignment_Policy
	gatewayDuration = gwapiv1.Duration
)
