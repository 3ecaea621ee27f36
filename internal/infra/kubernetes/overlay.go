package kubernetes

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/gatewayapi"
)

// Envoy Gateway's words for a Gateway without an address.
const msgAddressNotAssigned = "No addresses have been assigned to the Gateway"

// Overlay sets each Gateway's status.addresses from its proxy Service (as
// Envoy Gateway does: LoadBalancer ingress, else the cluster IPs of a
// ClusterIP Service, or spec.addresses' external IPs) and turns Programmed
// False when the Gateway has no address yet (AddressNotAssigned) or when
// its proxy objects could not be rendered or applied (Invalid, naming the
// EnvoyProxy field, also on the EnvoyProxy). Otherwise Programmed stays what
// the proxies' ACKs made it. It is the runner's Overlay hook.
func (i *Infra) Overlay(res *gatewayapi.Result, fleetOf func(*gwapiv1.Gateway) string) {
	byKey := map[string]*Objects{}
	for _, o := range i.Desired() {
		byKey[o.Key] = o
	}
	i.mu.Lock()
	applyErrs := i.applyErrs
	i.mu.Unlock()
	var failures []failure
	for _, gw := range res.Gateways {
		key := fleetOf(gw)
		objs := byKey[key]
		if key == "" || objs == nil {
			continue
		}
		problems := append([]string(nil), objs.Problems...)
		if e := applyErrs[key]; e != "" {
			problems = append(problems, e)
		}
		gw.Status.Addresses = i.addresses(gw, objs)
		switch {
		case len(problems) > 0:
			msg := strings.Join(problems, "; ")
			setProgrammed(gw, metav1.ConditionFalse, string(gwapiv1.GatewayReasonInvalid), msg)
			if objs.Proxy != "" {
				failures = append(failures, failure{proxy: objs.Proxy, class: string(gw.Spec.GatewayClassName),
					gateway: gw.Namespace + "/" + gw.Name, msg: msg})
			}
		case len(gw.Status.Addresses) == 0:
			setProgrammed(gw, metav1.ConditionFalse, string(gwapiv1.GatewayReasonAddressNotAssigned), msgAddressNotAssigned)
		}
	}
	for _, list := range [][]*egv1a1.EnvoyProxy{res.EnvoyProxies, res.EnvoyProxiesForGateways} {
		markProxies(list, failures)
	}
}

// failure is a fleet whose objects could not be made, by the EnvoyProxy
// in force and the Gateway (and class) using it.
type failure struct{ proxy, class, gateway, msg string }

// matches reports whether an EnvoyProxy's ancestor is the failure's
// Gateway or GatewayClass.
func (f failure) matches(ref gwapiv1.ParentReference) bool {
	if ref.Kind != nil && *ref.Kind == "Gateway" {
		ns := ""
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		return ns+"/"+string(ref.Name) == f.gateway
	}
	return string(ref.Name) == f.class
}

// markProxies turns Programmed False on the ancestors of the EnvoyProxies
// whose fleet failed (copying each EnvoyProxy it changes).
func markProxies(proxies []*egv1a1.EnvoyProxy, failures []failure) {
	for j, p := range proxies {
		cp := p
		for a := range p.Status.Ancestors {
			for _, f := range failures {
				if f.proxy != p.Namespace+"/"+p.Name || !f.matches(p.Status.Ancestors[a].AncestorRef) {
					continue
				}
				if cp == p {
					cp = p.DeepCopy()
					proxies[j] = cp
				}
				cp.Status.Ancestors[a].Conditions = setCondition(cp.Status.Ancestors[a].Conditions, metav1.Condition{
					Type: string(gwapiv1.GatewayConditionProgrammed), Status: metav1.ConditionFalse,
					Reason: string(gwapiv1.GatewayReasonInvalid), Message: f.msg, ObservedGeneration: p.Generation})
			}
		}
	}
}

// addresses are the Gateway's addresses from its Service in the cache.
func (i *Infra) addresses(gw *gwapiv1.Gateway, objs *Objects) []gwapiv1.GatewayStatusAddress {
	name := objs.Name
	if objs.Service != nil {
		name = objs.Service.Name
	}
	svc := &corev1.Service{}
	if err := i.opts.Reader.Get(context.Background(), types.NamespacedName{Namespace: i.opts.Namespace, Name: name}, svc); err != nil {
		return nil
	}
	var ips, hosts []string
	switch {
	case len(gw.Spec.Addresses) > 0:
		ips = svc.Spec.ExternalIPs
		if len(ips) == 0 {
			ips = svc.Spec.ClusterIPs
		}
	case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				ips = append(ips, in.IP)
			} else if in.Hostname != "" {
				hosts = append(hosts, in.Hostname)
			}
		}
	case svc.Spec.Type == corev1.ServiceTypeClusterIP:
		for _, ip := range svc.Spec.ClusterIPs {
			if ip != "" && ip != corev1.ClusterIPNone {
				ips = append(ips, ip)
			}
		}
	}
	var out []gwapiv1.GatewayStatusAddress
	for _, ip := range ips {
		out = append(out, gwapiv1.GatewayStatusAddress{Type: ptr(gwapiv1.IPAddressType), Value: ip})
	}
	for _, h := range hosts {
		out = append(out, gwapiv1.GatewayStatusAddress{Type: ptr(gwapiv1.HostnameAddressType), Value: h})
	}
	if len(out) > 16 {
		out = out[:16]
	}
	return out
}

func setProgrammed(gw *gwapiv1.Gateway, st metav1.ConditionStatus, reason, msg string) {
	gw.Status.Conditions = setCondition(gw.Status.Conditions, metav1.Condition{Type: string(gwapiv1.GatewayConditionProgrammed),
		Status: st, Reason: reason, Message: msg, ObservedGeneration: gw.Generation})
}

func setCondition(cs []metav1.Condition, c metav1.Condition) []metav1.Condition {
	for k := range cs {
		if cs[k].Type == c.Type {
			out := append([]metav1.Condition(nil), cs...)
			out[k] = c
			return out
		}
	}
	return append(append([]metav1.Condition(nil), cs...), c)
}
