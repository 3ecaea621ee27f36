package gatewayapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition messages that users of Envoy Gateway already know; keeping them
// identical makes Portico's status a drop-in replacement in dashboards and
// scripts that match on them.
const (
	msgGatewayClassAccepted   = "Valid GatewayClass"
	msgListenerProgrammed     = "Sending translated listener configuration to the data plane"
	msgListenerAccepted       = "Listener has been successfully translated"
	msgListenerResolvedRefs   = "Listener references have been resolved"
	msgRouteAccepted          = "Route is accepted"
	msgRouteResolvedRefs      = "Resolved all the Object references for the Route"
	msgNoHostnameIntersection = "There were no hostname intersections between the HTTPRoute and this parent ref's Listener(s)."
)

// newCondition builds a condition without a transition time: translation is a
// pure function, so the clock is the status writer's business.
func newCondition(condType, status, reason, message string, generation int64) metav1.Condition {
	return metav1.Condition{
		Type:               condType,
		Status:             metav1.ConditionStatus(status),
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	}
}

type metav1Condition = metav1.Condition
