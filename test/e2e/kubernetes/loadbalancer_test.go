package kubernetes_test

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portico-gw/portico/internal/kubetest"
)

// assignLoadBalancers is the cluster's load-balancer controller (what a
// cloud or MetalLB runs): every LoadBalancer Service in the control plane's
// namespace without an ingress address gets 127.0.0.1, where its proxy
// process listens. Writing it once when a test first sees the Service was
// not enough: a Service of the same name left by the previous test could be
// the one seen, and the new control plane deletes and re-creates it, so the
// Gateway stayed AddressNotAssigned (1 run in 3 under load).
func assignLoadBalancers(ctx context.Context, e *kubetest.Env) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var list corev1.ServiceList
		if err := e.Client.List(ctx, &list, client.InNamespace(egNamespace)); err == nil {
			for i := range list.Items {
				svc := &list.Items[i]
				if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
					continue
				}
				svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "127.0.0.1"}}
				// A conflict means it changed since listed: the next tick sees it.
				_ = e.Client.Status().Update(ctx, svc)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
