package envoyargs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	kubeinfra "github.com/portico-gw/portico/internal/infra/kubernetes"
)

// The envoy container's args exactly as the Kubernetes infrastructure
// renders them (Envoy Gateway's), with the SDS files of its ConfigMap.
func TestParseRenderedDeployment(t *testing.T) {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "eg"},
		Spec: gwapiv1.GatewaySpec{GatewayClassName: "eg", Listeners: []gwapiv1.Listener{{Name: "http", Protocol: "HTTP", Port: 80}}}}
	objs := kubeinfra.Render(&kubeinfra.Fleet{Key: "default/eg", Class: "eg", Gateways: []*gwapiv1.Gateway{gw}},
		kubeinfra.RenderOptions{Namespace: "envoy-gateway-system", XDSHost: "envoy-gateway.envoy-gateway-system.svc.cluster.local.", XDSPort: 18000})
	dir := t.TempDir()
	for name, data := range objs.ConfigMap.Data {
		// The pod mounts the ConfigMap at /sds and the Secret at /certs.
		data = strings.ReplaceAll(data, "/certs/", dir+"/certs/")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := objs.Deployment.Spec.Template.Spec.Containers[0]
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = strings.ReplaceAll(strings.ReplaceAll(a, "/sds/", dir+"/"), "$(ENVOY_POD_NAME)", "eg-pod-1")
	}
	cmd, err := Parse(args)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.ServiceCluster != "default/eg" || cmd.ServiceNode != "eg-pod-1" || cmd.SlogLevel() != "warn" || cmd.DrainTime.Seconds() != 60 {
		t.Fatalf("command = %+v", cmd)
	}
	x, err := XDSOf(cmd.Bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	if x.Address != "envoy-gateway.envoy-gateway-system.svc.cluster.local:18000" {
		t.Errorf("xDS address %s", x.Address)
	}
	if x.TLS == nil || x.TLS.CertFile != dir+"/certs/tls.crt" || x.TLS.KeyFile != dir+"/certs/tls.key" ||
		x.TLS.CAFile != dir+"/certs/ca.crt" || strings.Join(x.TLS.ServerNames, ",") != "envoy-gateway" {
		t.Errorf("TLS = %+v", x.TLS)
	}
}

func TestParseBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--service-cluster", "a/b"}, "no bootstrap"},
		{[]string{"--config-yaml"}, "needs a value"},
		{[]string{"--hot-restart-version"}, "envoy flag --hot-restart-version is not supported"},
		{[]string{"--config-yaml", "{admin: 1}"}, "--config-yaml"},
		{[]string{"--drain-time-s", "x", "--config-yaml", "{}"}, "not a number"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		_, err := Parse(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
	cmd, err := Parse([]string{"--config-yaml", "{}"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := XDSOf(cmd.Bootstrap); err == nil || !strings.Contains(err.Error(), "ads_config") {
		t.Errorf("XDSOf(empty) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("--service-cluster\x00a/b\x00--config-yaml\x00{dynamic_resources: {}}")
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := Parse(strings.Split(s, "\x00"))
		if err == nil {
			_, _ = XDSOf(cmd.Bootstrap)
		}
	})
}
