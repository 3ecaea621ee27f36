package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
)

// badProcessor misbehaves by path: /slow never answers, /pseudo sets a
// pseudo-header that does not exist; others are answered normally.
type badProcessor struct {
	extprocsvc.UnimplementedExternalProcessorServer
}

func (badProcessor) Process(st grpc.BidiStreamingServer[extprocsvc.ProcessingRequest, extprocsvc.ProcessingResponse]) error {
	for {
		req, err := st.Recv()
		if err != nil {
			return nil
		}
		path := ""
		for _, h := range req.GetRequestHeaders().GetHeaders().GetHeaders() {
			if h.GetKey() == ":path" {
				path = string(h.GetRawValue())
			}
		}
		cr := &extprocsvc.CommonResponse{}
		switch path {
		case "/slow":
			<-st.Context().Done()
			return nil
		case "/pseudo":
			cr.HeaderMutation = &extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: ":foo", RawValue: []byte("x")}}}}
		}
		_ = st.Send(&extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocsvc.HeadersResponse{Response: cr}}})
	}
}

// TestExtProcBadInput: each bad input of the issue gets its precise
// status and only its own route is affected.
func TestExtProcBadInput(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	extprocsvc.RegisterExternalProcessorServer(srv, badProcessor{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	bad := ln.Addr().(*net.TCPAddr).Port
	down := freePort(t)
	bp := echoBackend(t)
	gw := freePort(t)
	files := map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"procs.yaml": fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: bad, namespace: default}
spec: {clusterIP: 127.0.0.1, ports: [{name: grpc, port: %d}]}
---
apiVersion: v1
kind: Service
metadata: {name: down, namespace: default}
spec: {clusterIP: 127.0.0.1, ports: [{name: grpc, port: %d}]}
---
apiVersion: v1
kind: Service
metadata: {name: tls-proc, namespace: default}
spec: {clusterIP: 127.0.0.1, ports: [{name: grpc, port: %d}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-pem, namespace: default}
data: {ca.crt: "this is not a certificate"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: not-pem, namespace: default}
spec:
  targetRefs: [{group: '', kind: Service, name: tls-proc}]
  validation: {caCertificateRefs: [{group: '', kind: ConfigMap, name: not-pem}], hostname: x}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: no-target, namespace: default}
spec:
  targetRefs: [{group: '', kind: Service, name: nothing-here}]
  validation: {wellKnownCACertificates: System, hostname: x}
`, bad, down, bad),
	}
	routes := map[string]string{
		"misbehaving": "bad", "down": "down", "missing-service": "nothing", "not-pem-ca": "tls-proc", "no-port": "bad",
	}
	for name, svc := range routes {
		files["route-"+name+".yaml"] = namedRouteYAML(name, name+".example.com", "backend", bp)
		ref := fmt.Sprintf("{name: %s, port: %d}", svc, bad)
		switch name {
		case "down":
			ref = fmt.Sprintf("{name: down, port: %d}", down)
		case "no-port":
			ref = "{name: bad}"
		}
		files["eep-"+name+".yaml"] = fmt.Sprintf(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata: {name: %s, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: %s}]
  extProc:
  - backendRefs: [%s]
    messageTimeout: 1s
    processingMode: {request: {}}
`, name, name, ref)
	}
	files["route-fine.yaml"] = namedRouteYAML("fine", "fine.example.com", "backend", bp)
	e := start(t, files, gw)

	for _, c := range []struct {
		host, path string
		code       int
	}{
		{"fine", "/", 200},
		{"misbehaving", "/ok", 200},
		{"misbehaving", "/slow", http.StatusGatewayTimeout},
		{"misbehaving", "/pseudo", http.StatusInternalServerError},
		{"down", "/", http.StatusInternalServerError},
		{"missing-service", "/", http.StatusInternalServerError},
		{"no-port", "/", http.StatusInternalServerError},
		{"not-pem-ca", "/", http.StatusInternalServerError},
	} {
		start := time.Now()
		resp, _ := e.send("GET", c.host+".example.com", c.path, "")
		if resp.StatusCode != c.code {
			t.Errorf("%s%s: %d, want %d", c.host, c.path, resp.StatusCode, c.code)
		}
		if c.code == http.StatusGatewayTimeout && time.Since(start) > 5*time.Second {
			t.Errorf("the message timeout (1s) did not bound the wait: %v", time.Since(start))
		}
	}
	for name, want := range map[string]string{
		"missing-service": "ExtProc: service default/nothing not found.",
		"no-port":         "ExtProc: a valid port number corresponding to a port on the Service must be specified.",
		"not-pem-ca":      "ExtProc: BackendTLSPolicy default/not-pem for Service default/tls-proc is invalid: the CA certificate in configmap not-pem is invalid: no PEM certificate found.",
	} {
		if st, _, msg := condStatus(e.policyConditions("EnvoyExtensionPolicy", name), "Accepted"); st != "False" || msg != want {
			t.Errorf("%s: %s %q, want %q", name, st, msg, want)
		}
	}
	if st, reason, msg := condStatus(e.policyConditions("BackendTLSPolicy", "not-pem"), "Accepted"); st != "False" || reason != "NoValidCACertificate" {
		t.Errorf("not-pem: %s %s %s", st, reason, msg)
	}
	if st, reason, msg := condStatus(e.policyConditions("BackendTLSPolicy", "no-target"), "Accepted"); st != "False" || reason != "TargetNotFound" ||
		!strings.Contains(msg, "nothing-here") {
		t.Errorf("no-target: %s %s %s", st, reason, msg)
	}
}
