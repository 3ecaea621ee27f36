package gatewayapi

import (
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/resource"
)

const proxyBase = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: class-proxy, namespace: default}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: class-proxy, namespace: default}
spec:
  telemetry:
    accessLog:
      settings:
      - format: {type: Text, text: "class %RESPONSE_CODE%\n"}
        sinks: [{type: File, file: {path: /tmp/class.log}}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec: {clusterIP: 10.0.0.1, ports: [{name: http, port: 3000}]}
`

func gatewayWithProxy(name, proxy string) string {
	infra := ""
	if proxy != "" {
		infra = "  infrastructure:\n    parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: " + proxy + "}\n"
	}
	return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: " + name + ", namespace: default}\nspec:\n  gatewayClassName: eg\n" +
		infra + "  listeners: [{name: http, protocol: HTTP, port: 80}]\n"
}

func envoyProxyYAML(name, spec string) string {
	return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyProxy\nmetadata: {name: " + name + ", namespace: default}\nspec:\n" + spec
}

func proxyTranslate(t *testing.T, docs string) *Result {
	t.Helper()
	set, problems := resource.LoadBytes("test.yaml", []byte(proxyBase+docs))
	if len(problems) > 0 {
		t.Fatalf("input problems: %v", problems)
	}
	return Translate(set, Options{HostInfrastructure: true})
}

// A Gateway's infrastructure.parametersRef replaces the class's EnvoyProxy
// for that Gateway only; the EnvoyProxy reports the Gateway as its ancestor.
func TestGatewayParametersRef(t *testing.T) {
	r := proxyTranslate(t, gatewayWithProxy("own", "gw-proxy")+gatewayWithProxy("inherits", "")+
		envoyProxyYAML("gw-proxy", "  telemetry:\n    accessLog:\n      settings:\n      - format: {type: JSON, json: {code: \"%RESPONSE_CODE%\"}}\n        sinks: [{type: File, file: {path: /tmp/gw.log}}]\n        type: Route\n"))
	own, inherits := r.XdsIR["default/own"].AccessLog, r.XdsIR["default/inherits"].AccessLog
	if own == nil || len(own.JSON) != 1 || own.JSON[0].Path != "/tmp/gw.log" || own.JSON[0].JSON["code"] != "%RESPONSE_CODE%" ||
		own.JSON[0].LogType == nil || *own.JSON[0].LogType != "Route" || len(own.Text) != 0 {
		t.Errorf("own gateway access log %+v", own)
	}
	if inherits == nil || len(inherits.Text) != 1 || inherits.Text[0].Path != "/tmp/class.log" || *inherits.Text[0].Format != "class %RESPONSE_CODE%\n" {
		t.Errorf("inheriting gateway access log %+v", inherits)
	}
	if len(r.EnvoyProxiesForGateways) != 1 || r.EnvoyProxiesForGateways[0].Name != "gw-proxy" {
		t.Fatalf("EnvoyProxiesForGateways %+v", r.EnvoyProxiesForGateways)
	}
	a := r.EnvoyProxiesForGateways[0].Status.Ancestors
	if len(a) != 1 || string(*a[0].AncestorRef.Kind) != "Gateway" || a[0].AncestorRef.Name != "own" || a[0].Conditions[0].Status != "True" {
		t.Errorf("ancestors %+v", a)
	}
}

func TestGatewayParametersRefProblems(t *testing.T) {
	r := proxyTranslate(t, gatewayWithProxy("missing", "nope")+gatewayWithProxy("bad", "bad-bootstrap")+
		envoyProxyYAML("bad-bootstrap", "  bootstrap:\n    type: Replace\n    value: |\n      admin: {}\n"))
	for _, gw := range r.Gateways {
		want := map[string]string{
			"missing": "Invalid parametersRef: EnvoyProxy default/nope not found",
			"bad":     "Invalid parametersRef:: dynamic_resources cannot be modified",
		}[gw.Name]
		if len(gw.Status.Conditions) != 1 || gw.Status.Conditions[0].Reason != "InvalidParameters" || gw.Status.Conditions[0].Message != want {
			t.Errorf("%s: %+v", gw.Name, gw.Status.Conditions)
		}
		if _, ok := r.XdsIR["default/"+gw.Name]; ok {
			t.Errorf("%s must not be served", gw.Name)
		}
	}
}

// Access log settings: disable, and the default when there are none.
func TestAccessLogSettings(t *testing.T) {
	r := proxyTranslate(t, gatewayWithProxy("off", "off")+gatewayWithProxy("plain", "plain")+
		envoyProxyYAML("off", "  telemetry: {accessLog: {disable: true}}\n")+
		envoyProxyYAML("plain", "  concurrency: 2\n"))
	if al := r.XdsIR["default/off"].AccessLog; al != nil {
		t.Errorf("disabled access log: %+v", al)
	}
	if al := r.XdsIR["default/plain"].AccessLog; al == nil || len(al.JSON) != 1 || al.JSON[0].Path != "/dev/stdout" {
		t.Errorf("default access log: %+v", al)
	}
}

// Unsupported EnvoyProxy fields make it Accepted=False naming them (the
// rest applies); Kubernetes-only ones, in standalone mode, keep it
// Accepted with a note; neither stops the Gateway.
func TestEnvoyProxyFieldsReported(t *testing.T) {
	r := proxyTranslate(t, gatewayWithProxy("traced", "traced")+gatewayWithProxy("patched", "patched")+
		envoyProxyYAML("traced", "  telemetry:\n    tracing: {samplingRate: 100}\n    accessLog: {disable: true}\n")+
		envoyProxyYAML("patched", "  provider:\n    type: Kubernetes\n    kubernetes:\n      envoyDeployment:\n        patch:\n          type: StrategicMerge\n          value: {spec: {template: {spec: {containers: [{name: opa}]}}}}\n"))
	byName := map[string]string{}
	for _, ep := range r.EnvoyProxiesForGateways {
		c := ep.Status.Ancestors[0].Conditions[0]
		byName[ep.Name] = string(c.Status) + " " + c.Reason + " " + c.Message
	}
	if got := byName["traced"]; !strings.HasPrefix(got, "False UnsupportedField spec.telemetry.tracing is not supported by Portico yet") {
		t.Errorf("traced: %s", got)
	}
	if got := byName["patched"]; got != "True Accepted EnvoyProxy has been accepted. In standalone mode these fields have no effect: spec.provider.type, spec.provider.kubernetes." {
		t.Errorf("patched: %s", got)
	}
	if r.XdsIR["default/traced"] == nil || r.XdsIR["default/traced"].AccessLog != nil {
		t.Errorf("the rest of an EnvoyProxy with unsupported fields must apply")
	}
	if r.XdsIR["default/patched"] == nil {
		t.Errorf("a Kubernetes-only field must not stop the Gateway")
	}
}
