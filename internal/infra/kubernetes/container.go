package kubernetes

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
	"google.golang.org/protobuf/encoding/protojson"
)

// Bootstrap is the proxy's bootstrap as the Deployment passes it
// (--config-yaml): Envoy Gateway's, with ADS to the control plane's
// Service over mTLS from the /certs and /sds volumes.
func Bootstrap(o RenderOptions) (string, error) { return bootstrapFor(nil, o) }

// bootstrapFor is the bootstrap of a fleet's proxies: its EnvoyProxy may
// leave the stats listener out (telemetry.metrics.prometheus.disable).
func bootstrapFor(f *Fleet, o RenderOptions) (string, error) {
	bo := bootstrap.EnvoyGatewayDefaults()
	bo.DisablePrometheus = prometheusDisabled(f)
	bo.XDSHost = o.XDSHost
	if o.XDSPort != 0 {
		bo.XDSPort = o.XDSPort
	}
	js, err := protojson.Marshal(bootstrap.Build(bo))
	if err != nil {
		return "", err
	}
	y, err := yaml.JSONToYAML(js)
	return string(y), err
}

// proxyContainerSpec is the envoy container with envoyDeployment.container
// applied.
func proxyContainerSpec(f *Fleet, o RenderOptions, spec *egv1a1.KubernetesContainerSpec) (corev1.Container, error) {
	boot, err := bootstrapFor(f, o)
	if err != nil {
		return corev1.Container{}, err
	}
	if spec == nil {
		spec = &egv1a1.KubernetesContainerSpec{}
	}
	image := defaultEnvoyImage
	switch {
	case spec.Image != nil:
		image = *spec.Image
	case spec.ImageRepository != nil:
		image = *spec.ImageRepository + ":distroless-dev"
	}
	args := []string{
		"--service-cluster", f.Key,
		"--service-node", "$(ENVOY_POD_NAME)",
		"--config-yaml", boot,
		"--log-level", proxyLogLevel(f.Proxy),
		"--cpuset-threads",
		"--drain-strategy", "immediate",
	}
	if f.Proxy != nil && f.Proxy.Spec.Concurrency != nil {
		args = append(args, "--concurrency", strconv.Itoa(int(*f.Proxy.Spec.Concurrency)))
	}
	args = append(args, "--component-log-level", "misc:error", "--drain-time-s", strconv.Itoa(drainTimeoutSeconds))
	resources := corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("512Mi")}}
	if spec.Resources != nil {
		resources = *spec.Resources
	}
	sc := securityContext()
	if spec.SecurityContext != nil {
		sc = spec.SecurityContext
	}
	env := []corev1.EnvVar{
		{Name: "ENVOY_POD_NAMESPACE", ValueFrom: fieldRef("metadata.namespace")},
		{Name: "ENVOY_POD_NAME", ValueFrom: fieldRef("metadata.name")},
		{Name: "ENVOY_SERVICE_ZONE", ValueFrom: fieldRef("metadata.annotations['topology.kubernetes.io/zone']")},
	}
	return corev1.Container{
		Name:            proxyContainer,
		Image:           image,
		Command:         []string{"envoy"},
		Args:            args,
		Env:             append(env, spec.Env...),
		Ports:           containerPorts(f),
		Resources:       resources,
		SecurityContext: sc,
		VolumeMounts: append([]corev1.VolumeMount{
			{Name: "certs", MountPath: "/certs", ReadOnly: true},
			{Name: "sds", MountPath: "/sds"},
		}, spec.VolumeMounts...),
		StartupProbe:   httpProbe("/ready", readinessPort, 10, 30),
		ReadinessProbe: httpProbe("/ready", readinessPort, 5, 1),
		LivenessProbe:  httpProbe("/ready", readinessPort, 10, 3),
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/shutdown/ready", Port: intstr.FromInt32(shutdownManagerPort), Scheme: corev1.URISchemeHTTP}}},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy:          corev1.PullIfNotPresent,
	}, nil
}

func proxyLogLevel(p *egv1a1.EnvoyProxy) string {
	if p != nil {
		if l, ok := p.Spec.Logging.Level["default"]; ok && l != "" {
			return string(l)
		}
	}
	return "warn"
}

// sdsConfigMap holds the SDS files the bootstrap's xDS TLS reads: the
// client certificate and the CA that signs the control plane's, both from
// the certs volume (the Secret certgen makes).
func sdsConfigMap(meta metav1.ObjectMeta) (*corev1.ConfigMap, error) {
	files, err := bootstrap.BuildSDSFiles("/certs", xdsServerSAN)
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta,
		Data: map[string]string{bootstrap.SDSTrustedCAFile: string(files.TrustedCA), bootstrap.SDSCertificateFile: string(files.Certificate)}}, nil
}

// service is the proxy Service, with envoyService applied and its patch
// last.
func service(f *Fleet, kube *egv1a1.EnvoyProxyKubernetesProvider, meta metav1.ObjectMeta, selector map[string]string) (*corev1.Service, error) {
	spec := kube.EnvoyService
	if spec == nil {
		spec = &egv1a1.KubernetesServiceSpec{}
	}
	if spec.Name != nil {
		meta.Name = *spec.Name
	}
	meta.Labels = merged(spec.Labels, meta.Labels)
	if len(spec.Annotations) > 0 {
		meta.Annotations = copyMap(spec.Annotations)
	}
	svcType := corev1.ServiceTypeLoadBalancer
	if spec.Type != nil {
		svcType = corev1.ServiceType(*spec.Type)
	}
	s := &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: meta, Spec: corev1.ServiceSpec{
		Type:            svcType,
		Selector:        copyMap(selector),
		SessionAffinity: corev1.ServiceAffinityNone,
	}}
	for _, p := range f.Ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port,
			TargetPort: intstr.FromInt32(p.TargetPort)})
	}
	if svcType == corev1.ServiceTypeLoadBalancer {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		if spec.ExternalTrafficPolicy != nil {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicy(*spec.ExternalTrafficPolicy)
		}
		s.Spec.LoadBalancerClass = spec.LoadBalancerClass
		s.Spec.AllocateLoadBalancerNodePorts = spec.AllocateLoadBalancerNodePorts
		s.Spec.LoadBalancerSourceRanges = spec.LoadBalancerSourceRanges
		if spec.LoadBalancerIP != nil {
			s.Spec.LoadBalancerIP = *spec.LoadBalancerIP
		}
	}
	if spec.Patch != nil {
		if err := applyPatch(s, spec.Patch, &corev1.Service{}); err != nil {
			return nil, fmt.Errorf("spec.provider.kubernetes.envoyService.patch: %w; the proxy Service %s was not updated", err, meta.Name)
		}
	}
	return s, nil
}

// prometheusDisabled reports whether the fleet's EnvoyProxy turns the
// proxy's Prometheus endpoint off.
func prometheusDisabled(f *Fleet) bool {
	if f == nil || f.Proxy == nil || f.Proxy.Spec.Telemetry == nil || f.Proxy.Spec.Telemetry.Metrics == nil {
		return false
	}
	p := f.Proxy.Spec.Telemetry.Metrics.Prometheus
	return p != nil && p.Disable
}

// containerPorts are the proxy container's ports: metrics (19001) only
// while the Prometheus endpoint is on, as Envoy Gateway declares them.
func containerPorts(f *Fleet) []corev1.ContainerPort {
	readiness := corev1.ContainerPort{Name: "readiness", ContainerPort: readinessPort, Protocol: corev1.ProtocolTCP}
	if prometheusDisabled(f) {
		return []corev1.ContainerPort{readiness}
	}
	return []corev1.ContainerPort{{Name: "metrics", ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP}, readiness}
}
