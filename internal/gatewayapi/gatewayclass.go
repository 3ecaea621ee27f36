package gatewayapi

import (
	"sort"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// classInfo is an accepted-or-not GatewayClass of ours with its parameters.
type classInfo struct {
	gc       *gwapiv1.GatewayClass
	params   classParams
	paramErr string
	// gatewayErr is paramErr as the class's Gateways report it.
	gatewayErr string
}

// processGatewayClasses judges the classes whose controllerName is ours and
// returns them by name. Classes of other controllers are not ours to judge,
// so they get no status and stay out of the result.
func (t *translation) processGatewayClasses() map[string]*classInfo {
	classes := map[string]*classInfo{}
	for _, in := range t.in.GatewayClasses {
		if string(in.Spec.ControllerName) != t.opts.ControllerName {
			continue
		}
		gc := in.DeepCopy()
		gc.Status = gwapiv1.GatewayClassStatus{}
		info := &classInfo{gc: gc}
		info.params, info.paramErr, info.gatewayErr = t.resolveClassParams(gc)
		cond := newCondition(string(gwapiv1.GatewayClassConditionStatusAccepted), "True",
			string(gwapiv1.GatewayClassReasonAccepted), msgGatewayClassAccepted, gc.Generation)
		if info.paramErr != "" {
			cond = newCondition(string(gwapiv1.GatewayClassConditionStatusAccepted), "False",
				string(gwapiv1.GatewayClassReasonInvalidParameters), info.paramErr, gc.Generation)
		}
		gc.Status.Conditions = []metav1Condition{cond}
		classes[gc.Name] = info
		t.result.GatewayClasses = append(t.result.GatewayClasses, gc)
	}
	sort.Slice(t.result.GatewayClasses, func(i, j int) bool {
		return t.result.GatewayClasses[i].Name < t.result.GatewayClasses[j].Name
	})
	return classes
}
