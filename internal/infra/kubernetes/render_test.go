package kubernetes

import (
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

func TestResourceName(t *testing.T) {
	for key, want := range map[string]string{
		"default/eg": "envoy-default-eg-e41e7b31",
		// 48 characters before the hash, a trailing dash trimmed.
		"a-very-long-namespace-name/and-a-very-long-gateway-name-too": "envoy-a-very-long-namespace-name-and-a-very-long",
	} {
		got := ResourceName(key)
		if !strings.HasPrefix(got, want) || len(got) > 48+9 {
			t.Errorf("ResourceName(%q) = %q, want prefix %q", key, got, want)
		}
	}
}

func quickstartFleet(proxy *egv1a1.EnvoyProxy) *Fleet {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "eg"},
		Spec: gwapiv1.GatewaySpec{GatewayClassName: "eg", Listeners: []gwapiv1.Listener{
			{Name: "http", Protocol: gwapiv1.HTTPProtocolType, Port: 80},
			{Name: "https", Protocol: gwapiv1.HTTPSProtocolType, Port: 443},
			{Name: "alt", Protocol: gwapiv1.HTTPProtocolType, Port: 8080},
		}}}
	f := &Fleet{Key: "default/eg", Class: "eg", Gateways: []*gwapiv1.Gateway{gw}, Proxy: proxy}
	f.Ports = servicePorts(f)
	return f
}

var renderOpts = RenderOptions{Namespace: "envoy-gateway-system", XDSHost: "envoy-gateway.envoy-gateway-system.svc.cluster.local.", XDSPort: 18000}

func loadProxy(t *testing.T, path string) *egv1a1.EnvoyProxy {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p egv1a1.EnvoyProxy
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestRenderDefaults(t *testing.T) {
	objs := Render(quickstartFleet(nil), renderOpts)
	if len(objs.Problems) > 0 {
		t.Fatal(objs.Problems)
	}
	d := objs.Deployment
	if d.Name != "envoy-default-eg-e41e7b31" || d.Namespace != "envoy-gateway-system" || *d.Spec.Replicas != 1 {
		t.Fatalf("Deployment %s/%s replicas %v", d.Namespace, d.Name, d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Name != "envoy" || c.Image != "docker.io/envoyproxy/envoy:distroless-dev" || c.Command[0] != "envoy" {
		t.Fatalf("container %s %s %v", c.Name, c.Image, c.Command)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--service-cluster default/eg", "--service-node $(ENVOY_POD_NAME)", "--log-level warn",
		"--drain-strategy immediate", "--drain-time-s 60", "--component-log-level misc:error"} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q", want)
		}
	}
	boot := c.Args[slices.Index(c.Args, "--config-yaml")+1]
	if !strings.Contains(boot, "envoy-gateway.envoy-gateway-system.svc.cluster.local.") || !strings.Contains(boot, "/sds/xds-certificate.json") {
		t.Errorf("bootstrap does not reach the control plane over mTLS:\n%s", boot)
	}
	if *d.Spec.Template.Spec.TerminationGracePeriodSeconds != 360 || *d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Errorf("pod spec: grace %d, automount %v", *d.Spec.Template.Spec.TerminationGracePeriodSeconds, *d.Spec.Template.Spec.AutomountServiceAccountToken)
	}
	var ports []string
	for _, p := range objs.Service.Spec.Ports {
		ports = append(ports, p.Name+":"+p.TargetPort.String())
	}
	if got := strings.Join(ports, " "); got != "http-80:10080 https-443:10443 http-8080:8080" {
		t.Errorf("Service ports = %s", got)
	}
	if objs.ConfigMap.Data[sdsTrustedCAFile] == "" || objs.ServiceAccount.Name != d.Name {
		t.Errorf("ConfigMap %v, ServiceAccount %s", objs.ConfigMap.Data, objs.ServiceAccount.Name)
	}
}

// The OPA guide's strategic merge patch: the opa container is added, the
// envoy container keeps its mounts and gains the socket's, the volumes
// merge by name.
func TestRenderOPAStrategicMergePatch(t *testing.T) {
	objs := Render(quickstartFleet(loadProxy(t, "../../../examples/kubernetes/opa-envoyproxy.yaml")), renderOpts)
	if len(objs.Problems) > 0 {
		t.Fatal(objs.Problems)
	}
	pod := objs.Deployment.Spec.Template.Spec
	var names []string
	for _, c := range pod.Containers {
		names = append(names, c.Name)
	}
	// Kubernetes orders a merged list with the patch's items first.
	if got := strings.Join(names, ","); got != "envoy,opa,shutdown-manager" {
		t.Fatalf("containers = %s", got)
	}
	var mounts []string
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts = append(mounts, m.MountPath)
	}
	if got := strings.Join(mounts, ","); got != "/shared/opa,/certs,/sds" {
		t.Errorf("envoy mounts = %s", got)
	}
	if pod.Containers[0].Image != "docker.io/envoyproxy/envoy:distroless-dev" || len(pod.Containers[0].Args) == 0 {
		t.Errorf("the envoy container lost its settings: %s %v", pod.Containers[0].Image, pod.Containers[0].Args)
	}
	var vols []string
	for _, v := range pod.Volumes {
		vols = append(vols, v.Name)
	}
	if got := strings.Join(vols, ","); got != "opa-unix-socket,opa-policy,certs,sds" {
		t.Errorf("volumes = %s", got)
	}
}

func patched(kind egv1a1.MergeType, value string) *egv1a1.EnvoyProxy {
	return &egv1a1.EnvoyProxy{Spec: egv1a1.EnvoyProxySpec{Provider: &egv1a1.EnvoyProxyProvider{Type: "Kubernetes",
		Kubernetes: &egv1a1.EnvoyProxyKubernetesProvider{EnvoyDeployment: &egv1a1.KubernetesDeploymentSpec{
			Patch: &egv1a1.KubernetesPatchSpec{Type: &kind, Value: apiextensionsv1.JSON{Raw: []byte(value)}}}}}}}
}

// A JSON merge patch replaces lists whole (Envoy Gateway issue #3840's
// surprise), and that is what it does here too.
func TestRenderJSONMergePatch(t *testing.T) {
	objs := Render(quickstartFleet(patched(egv1a1.JSONMerge,
		`{"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"only","image":"x"}]}}}}`)), renderOpts)
	if len(objs.Problems) > 0 {
		t.Fatal(objs.Problems)
	}
	d := objs.Deployment
	if *d.Spec.Replicas != 3 || len(d.Spec.Template.Spec.Containers) != 1 || d.Spec.Template.Spec.Containers[0].Name != "only" {
		t.Fatalf("replicas %d, containers %+v", *d.Spec.Replicas, d.Spec.Template.Spec.Containers)
	}
}

// A patch that cannot apply leaves the Deployment out (the one in the
// cluster stays) and says why; the other objects are still rendered.
func TestRenderFailingPatches(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
		kind              egv1a1.MergeType
	}{
		{"unknown merge type", `{}`, "unsupported merge type: Replace", "Replace"},
		{"misspelt field", `{"spec":{"template":{"spec":{"containres":[]}}}}`, `unknown field "spec.template.spec.containres"`, egv1a1.StrategicMerge},
		{"wrong type", `{"spec":{"replicas":"three"}}`, "StrategicMerge patch result", egv1a1.StrategicMerge},
		{"not an object", `[1]`, "JSONMerge patch result", egv1a1.JSONMerge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := Render(quickstartFleet(patched(tc.kind, tc.value)), renderOpts)
			if objs.Deployment != nil || len(objs.Problems) != 1 {
				t.Fatalf("Deployment %v, problems %q", objs.Deployment != nil, objs.Problems)
			}
			if p := objs.Problems[0]; !strings.Contains(p, tc.want) || !strings.HasPrefix(p, "spec.provider.kubernetes.envoyDeployment.patch: ") {
				t.Fatalf("problem %q, want it to name the field and say %q", p, tc.want)
			}
			if objs.Service == nil || objs.ConfigMap == nil || objs.ServiceAccount == nil {
				t.Fatal("the other objects were not rendered")
			}
		})
	}
}

// envoyService and envoyHpa: the Service type and its patch, replicas
// left to the HPA.
func TestRenderServiceAndHPA(t *testing.T) {
	clusterIP := egv1a1.ServiceType("ClusterIP")
	sm := egv1a1.StrategicMerge
	p := &egv1a1.EnvoyProxy{Spec: egv1a1.EnvoyProxySpec{Provider: &egv1a1.EnvoyProxyProvider{Type: "Kubernetes",
		Kubernetes: &egv1a1.EnvoyProxyKubernetesProvider{
			EnvoyService: &egv1a1.KubernetesServiceSpec{Type: &clusterIP, Annotations: map[string]string{"a": "b"},
				Patch: &egv1a1.KubernetesPatchSpec{Type: &sm, Value: apiextensionsv1.JSON{Raw: []byte(`{"spec":{"ports":[{"port":80,"nodePort":0,"appProtocol":"http"}]}}`)}}},
			EnvoyHpa: &apiextensionsv1.JSON{Raw: []byte(`{"minReplicas":2,"maxReplicas":5}`)},
			EnvoyPDB: &apiextensionsv1.JSON{Raw: []byte(`{"minAvailable":1}`)},
		}}}}
	objs := Render(quickstartFleet(p), renderOpts)
	if len(objs.Problems) > 0 {
		t.Fatal(objs.Problems)
	}
	if objs.Service.Spec.Type != corev1.ServiceTypeClusterIP || objs.Service.Spec.ExternalTrafficPolicy != "" || objs.Service.Annotations["a"] != "b" {
		t.Errorf("Service %+v", objs.Service.Spec)
	}
	if ap := objs.Service.Spec.Ports[0].AppProtocol; ap == nil || *ap != "http" || objs.Service.Spec.Ports[0].Name != "http-80" {
		t.Errorf("the Service patch did not merge port 80 by port: %+v", objs.Service.Spec.Ports[0])
	}
	if objs.Deployment.Spec.Replicas != nil {
		t.Errorf("replicas %d set beside an HPA", *objs.Deployment.Spec.Replicas)
	}
	if len(objs.Extra) != 2 {
		t.Fatalf("extra objects = %d, want an HPA and a PDB", len(objs.Extra))
	}
}

// Render is a pure function: the same input renders the same objects.
func TestRenderDeterministic(t *testing.T) {
	p := loadProxy(t, "../../../examples/kubernetes/opa-envoyproxy.yaml")
	a, _ := yaml.Marshal(Render(quickstartFleet(p), renderOpts))
	b, _ := yaml.Marshal(Render(quickstartFleet(p), renderOpts))
	if string(a) != string(b) {
		t.Fatal("two renders differ")
	}
}

func daemonSetProxy(ds string, hpa bool) *egv1a1.EnvoyProxy {
	k := &egv1a1.EnvoyProxyKubernetesProvider{EnvoyDaemonSet: &apiextensionsv1.JSON{Raw: []byte(ds)}}
	if hpa {
		k.EnvoyHpa = &apiextensionsv1.JSON{Raw: []byte(`{"maxReplicas":3}`)}
	}
	return &egv1a1.EnvoyProxy{Spec: egv1a1.EnvoyProxySpec{Provider: &egv1a1.EnvoyProxyProvider{Type: "Kubernetes", Kubernetes: k}}}
}

// envoyDaemonSet renders a DaemonSet with the Deployment's pod (name,
// labels, selector, pod settings, patch) and no Deployment.
func TestRenderDaemonSet(t *testing.T) {
	objs := Render(quickstartFleet(daemonSetProxy(`{"pod":{"labels":{"tier":"edge"}},
		"patch":{"type":"StrategicMerge","value":{"spec":{"template":{"spec":{"hostNetwork":true}}}}}}`, false)), renderOpts)
	if len(objs.Problems) > 0 {
		t.Fatal(objs.Problems)
	}
	if objs.Deployment != nil || objs.DaemonSet == nil {
		t.Fatalf("Deployment %v, DaemonSet %v", objs.Deployment != nil, objs.DaemonSet != nil)
	}
	ds := objs.DaemonSet
	if ds.Name != "envoy-default-eg-e41e7b31" || ds.Kind != "DaemonSet" || ds.Labels["gateway.envoyproxy.io/owning-gateway-name"] != "eg" {
		t.Errorf("DaemonSet %s/%s labels %v", ds.Kind, ds.Name, ds.Labels)
	}
	tpl := ds.Spec.Template
	if tpl.Labels["tier"] != "edge" || ds.Spec.Selector.MatchLabels["tier"] != "" || !tpl.Spec.HostNetwork {
		t.Errorf("pod labels %v, selector %v, hostNetwork %v", tpl.Labels, ds.Spec.Selector.MatchLabels, tpl.Spec.HostNetwork)
	}
	if c := tpl.Spec.Containers; len(c) != 2 || c[0].Name != "envoy" || c[0].Args[1] != "default/eg" {
		t.Errorf("containers %+v", c)
	}
	if !slices.Contains(objs.All(), client.Object(ds)) {
		t.Error("the DaemonSet is not applied")
	}
}

// The combinations Envoy Gateway's CRD refuses, and a bad envoyDaemonSet:
// each is a problem naming it, and the workload is held as it is.
func TestRenderDaemonSetProblems(t *testing.T) {
	both := daemonSetProxy(`{}`, false)
	both.Spec.Provider.Kubernetes.EnvoyDeployment = &egv1a1.KubernetesDeploymentSpec{}
	for _, tc := range []struct {
		name  string
		proxy *egv1a1.EnvoyProxy
		want  string
		held  []string
	}{
		{"both workloads", both, "only one of envoyDeployment or envoyDaemonSet can be specified",
			[]string{"Deployment/envoy-default-eg-e41e7b31", "DaemonSet/envoy-default-eg-e41e7b31"}},
		{"hpa", daemonSetProxy(`{}`, true), "cannot use envoyHpa if envoyDaemonset is used", nil},
		{"misspelt field", daemonSetProxy(`{"replicas":2}`, false), `envoyDaemonSet: unknown field "replicas"`,
			[]string{"DaemonSet/envoy-default-eg-e41e7b31"}},
		{"failing patch", daemonSetProxy(`{"patch":{"type":"JSONMerge","value":{"spec":{"template":"x"}}}}`, false),
			"envoyDaemonSet.patch: ", []string{"DaemonSet/envoy-default-eg-e41e7b31"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := Render(quickstartFleet(tc.proxy), renderOpts)
			if len(objs.Problems) != 1 || !strings.Contains(objs.Problems[0], tc.want) {
				t.Fatalf("problems %q, want %q", objs.Problems, tc.want)
			}
			if !slices.Equal(objs.Held, tc.held) || objs.Deployment != nil {
				t.Errorf("held %q, want %q; Deployment %v", objs.Held, tc.held, objs.Deployment != nil)
			}
			for _, o := range objs.Extra {
				if o.GetObjectKind().GroupVersionKind().Kind == "HorizontalPodAutoscaler" {
					t.Error("an HPA beside a DaemonSet")
				}
			}
			if objs.Service == nil {
				t.Error("the Service was not rendered")
			}
		})
	}
}

// telemetry.metrics.prometheus.disable takes the stats listener out of the
// bootstrap, and with it the metrics port and the scrape annotations.
func TestRenderPrometheusDisabled(t *testing.T) {
	proxy := &egv1a1.EnvoyProxy{Spec: egv1a1.EnvoyProxySpec{Telemetry: &egv1a1.ProxyTelemetry{
		Metrics: &egv1a1.ProxyMetrics{Prometheus: &egv1a1.ProxyPrometheusProvider{Disable: true}}}}}
	for _, c := range []struct {
		proxy   *egv1a1.EnvoyProxy
		scraped bool
	}{{nil, true}, {proxy, false}} {
		objs := Render(quickstartFleet(c.proxy), renderOpts)
		if len(objs.Problems) > 0 {
			t.Fatal(objs.Problems)
		}
		tmpl := objs.Deployment.Spec.Template
		envoy := tmpl.Spec.Containers[0]
		var ports []string
		for _, p := range envoy.Ports {
			ports = append(ports, p.Name)
		}
		boot := envoy.Args[slices.Index(envoy.Args, "--config-yaml")+1]
		got := []bool{tmpl.Annotations["prometheus.io/scrape"] == "true", slices.Contains(ports, "metrics"), strings.Contains(boot, "prometheus_stats")}
		for i, what := range []string{"scrape annotation", "metrics port", "prometheus_stats in the bootstrap"} {
			if got[i] != c.scraped {
				t.Errorf("disable=%v: %s present = %v", c.proxy != nil, what, got[i])
			}
		}
		if !slices.Contains(ports, "readiness") {
			t.Errorf("disable=%v: ports %v lack readiness", c.proxy != nil, ports)
		}
	}
}
