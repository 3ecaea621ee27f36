package kubernetes

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// RenderOptions are the control plane's side of the proxies' objects.
type RenderOptions struct {
	// Namespace is where the objects go (the control plane's).
	Namespace string
	// XDSHost is the control plane's Service as proxies resolve it,
	// envoy-gateway.<namespace>.svc.<domain>.
	XDSHost string
	XDSPort uint32
	// ShutdownManagerImage is Envoy Gateway's image (the shutdown manager).
	ShutdownManagerImage string
}

// Objects are one fleet's desired objects. A workload or Service whose
// patch failed is nil, and Problems says why: it is left as it is in the
// cluster, as Envoy Gateway does, and (unlike Envoy Gateway) reported.
type Objects struct {
	Key  string
	Name string
	// Proxy is the EnvoyProxy in force, namespace/name ("" without one).
	Proxy          string
	ServiceAccount *corev1.ServiceAccount
	ConfigMap      *corev1.ConfigMap
	Deployment     *appsv1.Deployment
	DaemonSet      *appsv1.DaemonSet
	Service        *corev1.Service
	Extra          []client.Object // HPA, PDB
	Problems       []string
	// Held are the objects (Kind/name) left as they are in the cluster
	// because their rendering failed: not applied, and not collected.
	Held []string
}

// All lists the objects to apply, in dependency order.
func (o *Objects) All() []client.Object {
	var out []client.Object
	for _, obj := range []client.Object{o.ServiceAccount, o.ConfigMap, o.Deployment, o.DaemonSet, o.Service} {
		if !isNil(obj) {
			out = append(out, obj)
		}
	}
	return append(out, o.Extra...)
}

func isNil(o client.Object) bool {
	switch v := o.(type) {
	case *corev1.ServiceAccount:
		return v == nil
	case *corev1.ConfigMap:
		return v == nil
	case *appsv1.Deployment:
		return v == nil
	case *appsv1.DaemonSet:
		return v == nil
	case *corev1.Service:
		return v == nil
	}
	return o == nil
}

// Render makes a fleet's objects as Envoy Gateway makes them. It is a pure
// function of its input.
func Render(f *Fleet, o RenderOptions) *Objects {
	name := ResourceName(f.Key)
	out := &Objects{Key: f.Key, Name: name}
	if f.Proxy != nil && f.Proxy.Name != "" {
		out.Proxy = f.Proxy.Namespace + "/" + f.Proxy.Name
	}
	kube := kubernetesSpec(f.Proxy)
	labels := fleetLabels(f)
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: n, Namespace: o.Namespace, Labels: copyMap(labels)}
	}
	saName := name
	if kube.EnvoyServiceAccount != nil && kube.EnvoyServiceAccount.Name != nil {
		saName = *kube.EnvoyServiceAccount.Name
	}
	out.ServiceAccount = &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: meta(saName)}
	var err error
	if out.ConfigMap, err = sdsConfigMap(meta(name)); err != nil {
		out.Problems = append(out.Problems, err.Error())
	}
	workloadName := renderWorkload(out, f, o, kube, meta(name), saName)
	svc, err := service(f, kube, meta(name), labels)
	if err != nil {
		out.Problems = append(out.Problems, err.Error())
		out.Held = append(out.Held, "Service/"+serviceName(kube, name))
	} else {
		out.Service = svc
	}
	extra, probs := autoscaling(kube, meta(name), labels, workloadName)
	out.Extra, out.Problems = extra, append(out.Problems, probs...)
	return out
}

// serviceName is the proxy Service's name (envoyService.name or the
// fleet's).
func serviceName(kube *egv1a1.EnvoyProxyKubernetesProvider, name string) string {
	if kube.EnvoyService != nil && kube.EnvoyService.Name != nil {
		return *kube.EnvoyService.Name
	}
	return name
}

// kubernetesSpec is the EnvoyProxy's provider.kubernetes (empty: defaults).
func kubernetesSpec(p *egv1a1.EnvoyProxy) *egv1a1.EnvoyProxyKubernetesProvider {
	if p != nil && p.Spec.Provider != nil && p.Spec.Provider.Kubernetes != nil {
		return p.Spec.Provider.Kubernetes
	}
	return &egv1a1.EnvoyProxyKubernetesProvider{}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func merged(base, extra map[string]string) map[string]string {
	out := copyMap(base)
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// securityContext is what Envoy Gateway runs its containers with.
func securityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsUser: ptr(int64(65532)), RunAsGroup: ptr(int64(65532)), RunAsNonRoot: ptr(true),
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func httpProbe(path string, port int, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(int32(port)),
			Scheme: corev1.URISchemeHTTP}},
		TimeoutSeconds: 1, PeriodSeconds: period, SuccessThreshold: 1, FailureThreshold: failures,
	}
}

func shutdownManager(o RenderOptions) corev1.Container {
	image := o.ShutdownManagerImage
	if image == "" {
		image = defaultShutdownImage
	}
	return corev1.Container{
		Name:    shutdownContainer,
		Image:   image,
		Command: []string{"envoy-gateway"},
		Args:    []string{"envoy", "shutdown-manager", fmt.Sprintf("--ready-timeout=%ds", drainTimeoutSeconds+10)},
		Env: []corev1.EnvVar{
			{Name: "ENVOY_POD_NAMESPACE", ValueFrom: fieldRef("metadata.namespace")},
			{Name: "ENVOY_POD_NAME", ValueFrom: fieldRef("metadata.name")},
		},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")}},
		ReadinessProbe: httpProbe("/healthz", shutdownManagerPort, 5, 1),
		LivenessProbe:  httpProbe("/healthz", shutdownManagerPort, 10, 3),
		StartupProbe:   httpProbe("/healthz", shutdownManagerPort, 10, 30),
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{"envoy-gateway", "envoy", "shutdown", fmt.Sprintf("--drain-timeout=%ds", drainTimeoutSeconds)}}}},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		SecurityContext:          securityContext(),
	}
}

func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
}
