package gatewayapi

import (
	"fmt"
	"strconv"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/status/conditions"
	"github.com/portico-gw/portico/internal/support"
)

// applyGatewayFindings applies the ledger's verdict on the Gateway fields
// Portico does not support (or that mean nothing in standalone mode):
// listener-level ones stop the listener (they may be security settings:
// client certificate validation, TLS options), the others make the
// Gateway Accepted=False naming them. None of them can open a route (each
// only withholds something: a client certificate to backends, ListenerSet
// or default-Gateway attachment), so the Gateway's listeners keep serving;
// but a feature Portico does not implement is never reported accepted.
func applyGatewayFindings(gc *gatewayContext, findings []support.Finding) {
	var noted []string
	for _, f := range findings {
		switch {
		case f.Entry.State == support.NoEffect:
		case f.Entry.Effect == support.ListenerRejected:
			for _, lc := range listenersOf(gc, f.Path) {
				rejectListener(lc, fmt.Sprintf("%s is not supported by Portico yet: the listener does not serve rather than serve without it.", f.Path))
			}
		default:
			noted = append(noted, f.Path)
		}
	}
	noEffect := noEffectMessage(support.Select(findings, support.NoEffect))
	gw := gc.gw
	switch {
	case len(noted) > 0:
		gw.Status.Conditions = []metav1Condition{newCondition(string(gwapiv1.GatewayConditionAccepted), "False", ReasonUnsupportedField,
			joinSentences(fmt.Sprintf("%s %s not supported by Portico yet; the listeners serve without %s.",
				strings.Join(noted, ", "), isAre(len(noted)), itThem(len(noted))), noEffect), gw.Generation)}
	case noEffect != "":
		gw.Status.Conditions = []metav1Condition{newCondition(string(gwapiv1.GatewayConditionAccepted), "True",
			string(gwapiv1.GatewayReasonAccepted), joinSentences("The Gateway has been scheduled by Portico.", noEffect), gw.Generation)}
	}
}

// listenersOf returns the listeners a listener-level field applies to:
// spec.listeners[i]..., or for client certificate validation the HTTPS
// listeners (of the port, for a perPort entry).
func listenersOf(gc *gatewayContext, path string) []*listenerContext {
	if rest, ok := strings.CutPrefix(path, "spec.listeners["); ok {
		idx, _, _ := strings.Cut(rest, "]")
		if i, err := strconv.Atoi(idx); err == nil && i < len(gc.listeners) {
			return []*listenerContext{gc.listeners[i]}
		}
		return nil
	}
	var out []*listenerContext
	for _, lc := range gc.listeners {
		if lc.spec.Protocol == gwapiv1.HTTPSProtocolType || lc.spec.Protocol == gwapiv1.TLSProtocolType {
			out = append(out, lc)
		}
	}
	return out
}

func rejectListener(lc *listenerContext, msg string) {
	lc.status.Conditions = conditions.Set(lc.status.Conditions, newCondition(string(gwapiv1.ListenerConditionAccepted), "False",
		string(gwapiv1.ListenerReasonUnsupportedValue), msg, lc.gateway.gw.Generation))
	lc.unready()
}

func itThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
