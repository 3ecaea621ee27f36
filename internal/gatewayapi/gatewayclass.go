package gatewayapi

import (
	"sort"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// processGatewayClasses accepts the classes whose controllerName is ours and
// returns them by name. Classes of other controllers are not ours to judge,
// so they get no status and stay out of the result.
func (t *translation) processGatewayClasses() map[string]*gwapiv1.GatewayClass {
	classes := map[string]*gwapiv1.GatewayClass{}
	for _, in := range t.in.GatewayClasses {
		if string(in.Spec.ControllerName) != t.opts.ControllerName {
			continue
		}
		gc := in.DeepCopy()
		gc.Status.Conditions = setCondition(gc.Status.Conditions, newCondition(
			string(gwapiv1.GatewayClassConditionStatusAccepted), "True",
			string(gwapiv1.GatewayClassReasonAccepted), msgGatewayClassAccepted, gc.Generation))
		classes[gc.Name] = gc
		t.result.GatewayClasses = append(t.result.GatewayClasses, gc)
	}
	sort.Slice(t.result.GatewayClasses, func(i, j int) bool {
		return t.result.GatewayClasses[i].Name < t.result.GatewayClasses[j].Name
	})
	return classes
}
