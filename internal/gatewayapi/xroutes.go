package gatewayapi

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ListenerSet, which Portico loads but does not translate yet, still gets
// a status, so that nothing a user wrote vanishes: Accepted=False with
// reason UnsupportedKind. The support ledger lists it.

const kindListenerSet = "ListenerSet"

// parentIsOurs reports whether a (defaulted) parentRef names a Gateway of
// ours, a Gateway that does not exist (standalone, Portico is the only
// controller), or a ListenerSet whose Gateway is one of those.
func (t *translation) parentIsOurs(ref gwapiv1.ParentReference) bool {
	if string(*ref.Group) != gwapiv1.GroupName {
		return false
	}
	switch string(*ref.Kind) {
	case kindGateway:
		return t.gatewayIsOurs(string(*ref.Namespace), string(ref.Name))
	case kindListenerSet:
		for _, ls := range t.in.ListenerSets {
			if ls.Namespace == string(*ref.Namespace) && ls.Name == string(ref.Name) {
				gns, gname := listenerSetParent(ls)
				return t.gatewayIsOurs(gns, gname)
			}
		}
		return true
	}
	return false
}

func (t *translation) gatewayIsOurs(ns, name string) bool {
	return t.gatewayContext(ns, name) != nil || t.index.gateways[key(ns, name)] == nil
}

func listenerSetParent(ls *gwapiv1.ListenerSet) (string, string) {
	ns := ls.Namespace
	if ls.Spec.ParentRef.Namespace != nil && *ls.Spec.ParentRef.Namespace != "" {
		ns = string(*ls.Spec.ParentRef.Namespace)
	}
	return ns, string(ls.Spec.ParentRef.Name)
}

// processListenerSets reports every ListenerSet of one of our Gateways as
// not supported, with each of its listeners.
func (t *translation) processListenerSets() {
	sets := append([]*gwapiv1.ListenerSet(nil), t.in.ListenerSets...)
	sort.SliceStable(sets, func(i, j int) bool {
		return key(sets[i].Namespace, sets[i].Name) < key(sets[j].Namespace, sets[j].Name)
	})
	for _, in := range sets {
		gns, gname := listenerSetParent(in)
		if !t.gatewayIsOurs(gns, gname) {
			continue
		}
		ls := in.DeepCopy()
		gen := ls.Generation
		msg := kindMessage(kindListenerSet, "its listeners are not served and no route can attach to it")
		ls.Status.Conditions = []metav1.Condition{
			newCondition("Accepted", "False", ReasonUnsupportedKind, msg, gen),
			newCondition("Programmed", "False", ReasonUnsupportedKind, msg, gen),
		}
		ls.Status.Listeners = nil
		for _, l := range ls.Spec.Listeners {
			ls.Status.Listeners = append(ls.Status.Listeners, gwapiv1.ListenerEntryStatus{
				Name:           l.Name,
				SupportedKinds: []gwapiv1.RouteGroupKind{},
				Conditions: []metav1.Condition{
					newCondition("Accepted", "False", ReasonUnsupportedKind,
						fmt.Sprintf("Listener %s is not served: ListenerSet is not supported by Portico yet.", l.Name), gen),
					newCondition("Programmed", "False", ReasonUnsupportedKind, "ListenerSet is not supported by Portico yet.", gen),
				},
			})
		}
		t.result.ListenerSets = append(t.result.ListenerSets, ls)
	}
}
