package kubernetes

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// The messages of Envoy Gateway's validation rules on
// EnvoyProxyKubernetesProvider.
const (
	msgDeploymentOrDaemonSet = "only one of envoyDeployment or envoyDaemonSet can be specified"
	msgHpaWithDaemonSet      = "cannot use envoyHpa if envoyDaemonset is used"
)

// daemonSetSpec is Envoy Gateway's envoyDaemonSet (KubernetesDaemonSetSpec),
// kept as raw JSON in the API types.
type daemonSetSpec struct {
	Patch     *egv1a1.KubernetesPatchSpec     `json:"patch,omitempty"`
	Strategy  *appsv1.DaemonSetUpdateStrategy `json:"strategy,omitempty"`
	Pod       *egv1a1.KubernetesPodSpec       `json:"pod,omitempty"`
	Container *egv1a1.KubernetesContainerSpec `json:"container,omitempty"`
	Name      *string                         `json:"name,omitempty"`
}

// workloadShape is what a Deployment and a DaemonSet share.
type workloadShape struct {
	pod            *egv1a1.KubernetesPodSpec
	container      *egv1a1.KubernetesContainerSpec
	initContainers []corev1.Container
}

// renderWorkload sets the fleet's Deployment or DaemonSet (or records why
// neither) and returns the workload's name, which the HPA targets.
func renderWorkload(out *Objects, f *Fleet, o RenderOptions, kube *egv1a1.EnvoyProxyKubernetesProvider, meta metav1.ObjectMeta, sa string) string {
	if kube.EnvoyDaemonSet == nil {
		if kube.EnvoyDeployment != nil && kube.EnvoyDeployment.Name != nil {
			meta.Name = *kube.EnvoyDeployment.Name
		}
		dep, err := deployment(f, o, kube, meta, sa)
		if err != nil {
			out.Problems = append(out.Problems, err.Error())
			out.Held = append(out.Held, "Deployment/"+meta.Name)
		}
		out.Deployment = dep
		return meta.Name
	}
	if kube.EnvoyDeployment != nil {
		// Envoy Gateway's CRD refuses this; a cluster without its
		// validation may hold it, and neither workload is then changed.
		out.Problems = append(out.Problems, "spec.provider.kubernetes: "+msgDeploymentOrDaemonSet)
		out.Held = append(out.Held, "Deployment/"+meta.Name, "DaemonSet/"+meta.Name)
		return meta.Name
	}
	var spec daemonSetSpec
	if err := strictJSON(kube.EnvoyDaemonSet.Raw, &spec); err != nil {
		out.Problems = append(out.Problems, "spec.provider.kubernetes.envoyDaemonSet: "+err.Error())
		out.Held = append(out.Held, "DaemonSet/"+meta.Name)
		return meta.Name
	}
	if spec.Name != nil {
		meta.Name = *spec.Name
	}
	ds, err := daemonSet(f, o, &spec, meta, sa)
	if err != nil {
		out.Problems = append(out.Problems, err.Error())
		out.Held = append(out.Held, "DaemonSet/"+meta.Name)
	}
	out.DaemonSet = ds
	return meta.Name
}

// deployment is the proxy Deployment, with envoyDeployment applied and its
// patch last.
func deployment(f *Fleet, o RenderOptions, kube *egv1a1.EnvoyProxyKubernetesProvider, meta metav1.ObjectMeta, sa string) (*appsv1.Deployment, error) {
	spec := kube.EnvoyDeployment
	if spec == nil {
		spec = &egv1a1.KubernetesDeploymentSpec{}
	}
	tpl, selector, err := podTemplate(f, o, workloadShape{spec.Pod, spec.Container, spec.InitContainers}, meta, sa)
	if err != nil {
		return nil, err
	}
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptr(intstr.FromString("25%")), MaxSurge: ptr(intstr.FromString("25%"))}}
	if spec.Strategy != nil {
		strategy = *spec.Strategy
	}
	d := &appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Selector:                &metav1.LabelSelector{MatchLabels: selector},
			Strategy:                strategy,
			Template:                tpl,
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
	}
	// An HPA owns the replica count.
	if kube.EnvoyHpa == nil {
		d.Spec.Replicas = ptr(int32(1))
		if spec.Replicas != nil {
			d.Spec.Replicas = spec.Replicas
		}
	}
	if spec.Patch != nil {
		if err := applyPatch(d, spec.Patch, &appsv1.Deployment{}); err != nil {
			return nil, fmt.Errorf("spec.provider.kubernetes.envoyDeployment.patch: %w; the proxy Deployment %s was not updated", err, meta.Name)
		}
	}
	return d, nil
}

// daemonSet is the proxy DaemonSet, with envoyDaemonSet applied and its
// patch last.
func daemonSet(f *Fleet, o RenderOptions, spec *daemonSetSpec, meta metav1.ObjectMeta, sa string) (*appsv1.DaemonSet, error) {
	tpl, selector, err := podTemplate(f, o, workloadShape{pod: spec.Pod, container: spec.Container}, meta, sa)
	if err != nil {
		return nil, err
	}
	// The API server's defaults, so that the applied form is stable.
	strategy := appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{
			MaxUnavailable: ptr(intstr.FromInt32(1)), MaxSurge: ptr(intstr.FromInt32(0))}}
	if spec.Strategy != nil {
		strategy = *spec.Strategy
	}
	d := &appsv1.DaemonSet{
		TypeMeta:   typeMeta("apps/v1", "DaemonSet"),
		ObjectMeta: meta,
		Spec: appsv1.DaemonSetSpec{
			Selector:             &metav1.LabelSelector{MatchLabels: selector},
			UpdateStrategy:       strategy,
			Template:             tpl,
			RevisionHistoryLimit: ptr(int32(10)),
		},
	}
	if spec.Patch != nil {
		if err := applyPatch(d, spec.Patch, &appsv1.DaemonSet{}); err != nil {
			return nil, fmt.Errorf("spec.provider.kubernetes.envoyDaemonSet.patch: %w; the proxy DaemonSet %s was not updated", err, meta.Name)
		}
	}
	return d, nil
}

// podTemplate is the proxy pod as Envoy Gateway makes it, and its selector.
func podTemplate(f *Fleet, o RenderOptions, w workloadShape, meta metav1.ObjectMeta, sa string) (corev1.PodTemplateSpec, map[string]string, error) {
	pod := w.pod
	if pod == nil {
		pod = &egv1a1.KubernetesPodSpec{}
	}
	selector := copyMap(meta.Labels)
	scrape := map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(metricsPort),
		"prometheus.io/path":   "/stats/prometheus",
	}
	if prometheusDisabled(f) {
		scrape = nil
	}
	podAnnotations := merged(scrape, pod.Annotations)
	envoy, err := proxyContainerSpec(f, o, w.container)
	if err != nil {
		return corev1.PodTemplateSpec{}, nil, err
	}
	podSpec := corev1.PodSpec{
		ServiceAccountName:            sa,
		AutomountServiceAccountToken:  ptr(false),
		TerminationGracePeriodSeconds: ptr(int64(terminationGraceSecs)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		RestartPolicy:                 corev1.RestartPolicyAlways,
		SchedulerName:                 corev1.DefaultSchedulerName,
		InitContainers:                w.initContainers,
		Containers:                    []corev1.Container{envoy, shutdownManager(o)},
		SecurityContext:               pod.SecurityContext,
		Affinity:                      pod.Affinity,
		Tolerations:                   pod.Tolerations,
		ImagePullSecrets:              pod.ImagePullSecrets,
		NodeSelector:                  pod.NodeSelector,
		TopologySpreadConstraints:     pod.TopologySpreadConstraints,
		Volumes: append([]corev1.Volume{
			{Name: "certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: certsSecret, DefaultMode: ptr(int32(0o420))}}},
			// The SDS ConfigMap keeps the fleet's name when the workload
			// is renamed.
			{Name: "sds", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: ResourceName(f.Key)},
				Items: []corev1.KeyToPath{{Key: sdsTrustedCAFile, Path: sdsTrustedCAFile},
					{Key: sdsCertificateFile, Path: sdsCertificateFile}},
				DefaultMode: ptr(int32(0o420))}}},
		}, pod.Volumes...),
	}
	if pod.PriorityClassName != nil {
		podSpec.PriorityClassName = *pod.PriorityClassName
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: merged(pod.Labels, selector), Annotations: podAnnotations},
		Spec:       podSpec,
	}, selector, nil
}
