package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// guideFiles are the External Processing guide's files (examples/ext-proc)
// with the ports of this test: the processor's Service points at p, the
// guide's backend Service at the echo backend.
func guideFiles(t *testing.T, gw, backendPort int, p *extProc) map[string]string {
	return map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": backendPort}),
		"myapp.yaml":   strings.Replace(readExample(t, "ext-proc", "policies", "myapp-route.yaml"), "port: 3000", fmt.Sprintf("port: %d", backendPort), 1),
		"service.yaml": strings.ReplaceAll(readExample(t, "ext-proc", "policies", "grpc-ext-proc-service.yaml"), "9002", itoa(p.port)),
		"policy.yaml": strings.Replace(readExample(t, "ext-proc", "policies", "ext-proc-example.yaml"),
			"port: 9002", "port: "+itoa(p.port), 1),
		"btls.yaml": readExample(t, "ext-proc", "policies", "grpc-ext-proc-btls.yaml"),
		"ca.yaml":   p.caConfigMap("default"),
	}
}

// TestExtProcGuide runs the External Processing guide through the runner
// and the built-in proxy with a real gRPC processor over TLS: the request
// reaches the backend marked by the processor, the response comes back
// marked, both policies are Accepted. A CA that is not the processor's
// makes the handshake fail: that route answers 500, others keep serving.
func TestExtProcGuide(t *testing.T) {
	p := startExtProc(t, false, "")
	bp := echoBackend(t)
	gw := freePort(t)
	files := guideFiles(t, gw, bp, p)
	files["other.yaml"] = namedRouteYAML("other", "other.example.com", "backend", bp)
	e := start(t, files, gw)
	var resp *http.Response
	var s seen
	e.eventually("x-response-ext-processed on /myapp", func() bool {
		resp, s = e.send("GET", "www.example.com", "/myapp", "")
		return resp.StatusCode == 200 && resp.Header.Get("X-Response-Ext-Processed") == "true"
	})
	if s.Headers.Get("X-Request-Ext-Processed") != "true" || s.Path != "/myapp" {
		t.Fatalf("backend saw %+v", s)
	}
	kinds, _ := p.take()
	if len(kinds) < 3 || kinds[0] != "reqH" || !slices.Contains(kinds, "respH") || !slices.Contains(kinds, "respB") || slices.Contains(kinds, "reqB") {
		t.Fatalf("processor got %v: request headers, response headers and the streamed response body", kinds)
	}
	for kind, name := range map[string]string{"EnvoyExtensionPolicy": "ext-proc-example", "BackendTLSPolicy": "grpc-ext-proc-btls"} {
		if st, _, msg := condStatus(e.policyConditions(kind, name), "Accepted"); st != "True" {
			t.Fatalf("%s %s Accepted=%s %s", kind, name, st, msg)
		}
	}

	other := startExtProc(t, false, "") // another CA
	writeFile(t, filepath.Join(e.dir, "ca.yaml"), other.caConfigMap("default"))
	e.eventually("500 once the CA is not the processor's", func() bool {
		resp, _ := e.send("GET", "www.example.com", "/myapp", "")
		return resp.StatusCode == http.StatusInternalServerError
	})
	if resp, _ := e.send("GET", "other.example.com", "/", ""); resp.StatusCode != 200 {
		t.Fatalf("other route: %d", resp.StatusCode)
	}
}

// TestExtProcModes sends a body through routes of every processing mode,
// each to the recording processor, and checks what the processor got and
// that request and response came through whole.
func TestExtProcModes(t *testing.T) {
	p := startExtProc(t, false, "")
	duplex := startExtProc(t, true, "")
	bp := echoBackend(t)
	gw := freePort(t)
	files := map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"procs.yaml": fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: proc, namespace: default}
spec: {clusterIP: 127.0.0.1, ports: [{name: grpc, port: %d}]}
---
apiVersion: v1
kind: Service
metadata: {name: duplex, namespace: default}
spec: {clusterIP: 127.0.0.1, ports: [{name: grpc, port: %d}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: procs, namespace: default}
spec:
  targetRefs: [{group: '', kind: Service, name: proc}]
  validation: {caCertificateRefs: [{group: '', kind: ConfigMap, name: grpc-ext-proc-ca}], hostname: grpc-ext-proc.envoygateway}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: duplex, namespace: default}
spec:
  targetRefs: [{group: '', kind: Service, name: duplex}]
  validation: {caCertificateRefs: [{group: '', kind: ConfigMap, name: duplex-ca}], hostname: grpc-ext-proc.envoygateway}
`, p.port, duplex.port),
		"ca.yaml":        p.caConfigMap("default"),
		"duplex-ca.yaml": strings.Replace(duplex.caConfigMap("default"), "name: grpc-ext-proc-ca", "name: duplex-ca", 1),
	}
	modes := []struct {
		name, service, mode string
		want                []string // kinds the processor must get, in order
	}{
		{"headers", "proc", "{request: {}, response: {}}", []string{"reqH", "respH"}},
		{"request-buffered", "proc", "{request: {body: Buffered}}", []string{"reqH", "reqB"}},
		{"request-buffered-partial", "proc", "{request: {body: BufferedPartial}}", []string{"reqH", "reqB"}},
		{"request-streamed", "proc", "{request: {body: Streamed}}", []string{"reqH", "reqB", "reqB"}},
		{"response-buffered", "proc", "{response: {body: Buffered}}", []string{"respH", "respB"}},
		{"response-streamed", "proc", "{response: {body: Streamed}}", []string{"respH", "respB"}},
		{"full-duplex", "duplex", "{request: {body: FullDuplexStreamed}, response: {body: FullDuplexStreamed}}", []string{"reqB", "respB"}},
		{"attributes", "proc", "{request: {attributes: [xds.route_name]}, response: {attributes: [request.path]}}", []string{"reqH", "respH"}},
	}
	for _, m := range modes {
		host := m.name + ".example.com"
		files["route-"+m.name+".yaml"] = namedRouteYAML(m.name, host, "backend", bp)
		files["eep-"+m.name+".yaml"] = fmt.Sprintf(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata: {name: %s, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: %s}]
  extProc:
  - backendRefs: [{name: %s, port: %d}]
    messageTimeout: 2s
    processingMode: %s
`, m.name, m.name, m.service, map[string]int{"proc": p.port, "duplex": duplex.port}[m.service], m.mode)
	}
	e := start(t, files, gw)
	body := strings.Repeat("0123456789", 1000)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			proc := p
			if m.service == "duplex" {
				proc = duplex
			}
			e.eventually(m.name+" served", func() bool {
				resp, _ := e.send("POST", m.name+".example.com", "/x", body)
				return resp.StatusCode == 200
			})
			proc.take()
			resp, s := e.send("POST", m.name+".example.com", "/x", body)
			if resp.StatusCode != 200 || s.Body != body {
				t.Fatalf("%d: backend got %d bytes of body", resp.StatusCode, len(s.Body))
			}
			var kinds []string
			e.eventually("the processor's messages", func() bool {
				k, _ := proc.take()
				kinds = append(kinds, k...)
				return containsInOrder(kinds, m.want)
			})
			if m.name == "attributes" && (s.Headers.Get("X-Request-Xds-Route-Name") != "httproute/default/attributes/rule/0/match/0/attributes_example_com" ||
				resp.Header.Get("X-Response-Request-Path") != "/x") {
				t.Fatalf("attributes: request %v, response %v", s.Headers, resp.Header)
			}
		})
	}
}

// containsInOrder reports whether want appears in got as a subsequence.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestExtProcEnvoyGatewayManifest applies Envoy Gateway's own e2e manifest
// for ext_proc (internal/translate/testdata/e2e, unchanged but for the
// ports and the socket path of this machine) and makes its e2e test's
// checks, the RBAC result included: the manifest's SecurityPolicy
// (authorization with defaultAction Allow) makes the rbac filter write
// enforced_engine_result, which the processor reads from its
// metadata_context and echoes as x-response-rbac-result-metadata.
func TestExtProcEnvoyGatewayManifest(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "extproc.sock")
	p := startExtProc(t, false, sock)
	bp := echoBackend(t)
	gw := freePort(t)
	manifest := readFileT(t, filepath.Join("..", "..", "internal", "translate", "testdata", "e2e", "ext-proc-envoyextensionpolicy.yaml"))
	manifest = strings.NewReplacer("port: 9002", "port: "+itoa(p.port), "/var/run/ext-proc/extproc.sock", sock).Replace(manifest)
	infra := fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gateway-conformance}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace, namespace: gateway-conformance-infra}
spec:
  gatewayClassName: gateway-conformance
  listeners: [{name: http, port: %d, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}]
---
apiVersion: v1
kind: Service
metadata: {name: infra-backend-v1, namespace: gateway-conformance-infra}
spec: {ports: [{name: http, port: 8080, targetPort: %d}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: infra-backend-v1, namespace: gateway-conformance-infra, labels: {kubernetes.io/service-name: infra-backend-v1}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1]}]
ports: [{name: http, port: %d}]
---
apiVersion: v1
kind: Service
metadata: {name: grpc-ext-proc, namespace: gateway-conformance-infra}
spec: {clusterIP: 127.0.0.1, ports: [{name: grpc, port: %d}]}
`, gw, bp, bp, p.port)
	cfg := luaConfig()
	cfg.ExtensionAPIs.EnableBackend = true
	e := startWith(t, cfg, map[string]string{"infra.yaml": infra, "manifest.yaml": manifest, "ca.yaml": p.caConfigMap("gateway-conformance-infra")}, gw)

	var resp *http.Response
	var s seen
	e.eventually("/processor processed", func() bool {
		resp, s = e.sendUnhurried("GET", "www.example.com", "/processor", "", "x-request-client-header", "original")
		return resp.StatusCode == 200 && resp.Header.Get("X-Response-Ext-Processed") == "true"
	})
	for k, v := range map[string]string{"X-Request-Ext-Processed": "true", "X-Request-Client-Header": "mutated",
		"X-Request-Client-Header-Received": "original", "X-Request-From-Ext-Proc-Metadata": "received",
		"X-Request-Xds-Route-Name": "httproute/gateway-conformance-infra/http-with-ext-proc/rule/0/match/0/www_example_com"} {
		if got := s.Headers.Get(k); got != v {
			t.Errorf("/processor: upstream %s = %q, want %q", k, got, v)
		}
	}
	if got := resp.Header.Get("X-Response-Xds-Route-Name"); got != "httproute/gateway-conformance-infra/http-with-ext-proc/rule/0/match/0/www_example_com" {
		t.Errorf("/processor: x-response-xds-route-name %q", got)
	}
	if got := resp.Header.Get("X-Response-Rbac-Result-Metadata"); got != "allowed" {
		t.Errorf("/processor: x-response-rbac-result-metadata %q, want allowed", got)
	}
	if st, _, msg := condStatus(e.policyConditions("SecurityPolicy", "authorization-client-ip"), "Accepted"); st != "True" {
		t.Errorf("authorization-client-ip: %s %s", st, msg)
	}
	// The policy on the named rule wins there, and asks for request.path.
	resp, _ = e.sendUnhurried("GET", "www.example.com", "/processor-route-rule-name", "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Response-Request-Path") != "/processor-route-rule-name" ||
		resp.Header.Get("X-Response-Xds-Route-Name") != "httproute/gateway-conformance-infra/http-with-ext-proc/rule/1/match/0/www_example_com" {
		t.Errorf("/processor-route-rule-name: %d %v", resp.StatusCode, resp.Header)
	}
	// No processing mode: nothing is sent, the header stays.
	resp, s = e.sendUnhurried("GET", "www.example.com", "/no-processor", "", "x-request-client-header", "original")
	if resp.StatusCode != 200 || s.Headers.Get("X-Request-Client-Header") != "original" || resp.Header.Get("X-Response-Ext-Processed") != "" {
		t.Errorf("/no-processor: %d %v %v", resp.StatusCode, s.Headers, resp.Header)
	}
	// The unix socket Backend, with TLS from its BackendTLSPolicy.
	resp, s = e.sendUnhurried("GET", "www.example.com", "/uds-processor", "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Response-Ext-Processed") != "true" || s.Headers.Get("X-Request-Ext-Processed") != "true" {
		t.Errorf("/uds-processor: %d %v", resp.StatusCode, resp.Header)
	}
	// backendSettings (the active health check) is named, the rest runs.
	if st, reason, msg := condStatus(e.policyConditions("EnvoyExtensionPolicy", "ext-proc-test"), "Accepted"); st != "False" ||
		reason != "UnsupportedField" || !strings.Contains(msg, "backendSettings") {
		t.Errorf("ext-proc-test: %s %s %s", st, reason, msg)
	}
	for _, name := range []string{"grpc-ext-proc-btls", "policy-btls-uds-extproc"} {
		if st, _, msg := condStatus(e.policyConditions("BackendTLSPolicy", name), "Accepted"); st != "True" {
			t.Errorf("%s: %s %s", name, st, msg)
		}
	}
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
