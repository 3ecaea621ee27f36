package kubernetes

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsjson "sigs.k8s.io/json"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// hpaSpec is Envoy Gateway's envoyHpa (KubernetesHorizontalPodAutoscalerSpec).
type hpaSpec struct {
	MinReplicas *int32                                         `json:"minReplicas,omitempty"`
	MaxReplicas *int32                                         `json:"maxReplicas"`
	Metrics     []autoscalingv2.MetricSpec                     `json:"metrics,omitempty"`
	Behavior    *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	Patch       *egv1a1.KubernetesPatchSpec                    `json:"patch,omitempty"`
}

// pdbSpec is Envoy Gateway's envoyPDB (KubernetesPodDisruptionBudgetSpec).
type pdbSpec struct {
	MinAvailable   *intstr.IntOrString         `json:"minAvailable,omitempty"`
	MaxUnavailable *intstr.IntOrString         `json:"maxUnavailable,omitempty"`
	Patch          *egv1a1.KubernetesPatchSpec `json:"patch,omitempty"`
}

// autoscaling renders envoyHpa and envoyPDB (kept as raw JSON in the API
// types) for the workload named workload.
func autoscaling(kube *egv1a1.EnvoyProxyKubernetesProvider, meta metav1.ObjectMeta, selector map[string]string, workload string) ([]client.Object, []string) {
	var out []client.Object
	var probs []string
	depName := workload
	switch {
	case kube.EnvoyHpa != nil && kube.EnvoyDaemonSet != nil:
		// A DaemonSet runs one pod per node: nothing to scale.
		probs = append(probs, "spec.provider.kubernetes: "+msgHpaWithDaemonSet)
	case kube.EnvoyHpa != nil:
		var s hpaSpec
		if err := strictJSON(kube.EnvoyHpa.Raw, &s); err != nil {
			probs = append(probs, "spec.provider.kubernetes.envoyHpa: "+err.Error())
		} else if s.MaxReplicas == nil {
			probs = append(probs, "spec.provider.kubernetes.envoyHpa.maxReplicas: Required value")
		} else {
			h := &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: typeMeta("autoscaling/v2", "HorizontalPodAutoscaler"),
				ObjectMeta: meta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: depName},
					MinReplicas:    s.MinReplicas, MaxReplicas: *s.MaxReplicas, Metrics: s.Metrics, Behavior: s.Behavior}}
			if len(h.Spec.Metrics) == 0 {
				h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
					Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))}}}}
			}
			if s.Patch != nil {
				if err := applyPatch(h, s.Patch, &autoscalingv2.HorizontalPodAutoscaler{}); err != nil {
					probs = append(probs, fmt.Sprintf("spec.provider.kubernetes.envoyHpa.patch: %v", err))
					h = nil
				}
			}
			if h != nil {
				out = append(out, h)
			}
		}
	}
	if kube.EnvoyPDB != nil {
		var s pdbSpec
		if err := strictJSON(kube.EnvoyPDB.Raw, &s); err != nil {
			probs = append(probs, "spec.provider.kubernetes.envoyPDB: "+err.Error())
		} else {
			pdb := &policyv1.PodDisruptionBudget{TypeMeta: typeMeta("policy/v1", "PodDisruptionBudget"), ObjectMeta: meta,
				Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: copyMap(selector)},
					MinAvailable: s.MinAvailable, MaxUnavailable: s.MaxUnavailable}}
			if s.Patch != nil {
				if err := applyPatch(pdb, s.Patch, &policyv1.PodDisruptionBudget{}); err != nil {
					probs = append(probs, fmt.Sprintf("spec.provider.kubernetes.envoyPDB.patch: %v", err))
					pdb = nil
				}
			}
			if pdb != nil {
				out = append(out, pdb)
			}
		}
	}
	return out, probs
}

func strictJSON(raw []byte, out any) error {
	strict, err := sigsjson.UnmarshalStrict(raw, out)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return strict[0]
	}
	return nil
}
