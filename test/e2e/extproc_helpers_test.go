package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/portico-gw/portico/examples/ext-proc/processor"
)

// extProc is the example processor running with TLS on loopback (and on a
// unix socket when asked), recording the kinds of message it gets.
type extProc struct {
	port  int
	caPEM string
	mu    sync.Mutex
	kinds []string
	msgs  []*extprocsvc.ProcessingRequest
}

func startExtProc(t *testing.T, fullDuplex bool, unixPath string) *extProc {
	t.Helper()
	dir := t.TempDir()
	tlsCfg, err := processor.LoadTLS(dir, processor.Hostname, "default")
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	p := &extProc{caPEM: string(ca)}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	extprocsvc.RegisterExternalProcessorServer(srv, &processor.Server{FullDuplex: fullDuplex, Record: p.record})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	if unixPath != "" {
		uln, err := net.Listen("unix", unixPath)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(uln)
	}
	t.Cleanup(srv.Stop)
	p.port = ln.Addr().(*net.TCPAddr).Port
	return p
}

func (p *extProc) record(r *extprocsvc.ProcessingRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kind := "?"
	switch r.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		kind = "reqH"
	case *extprocsvc.ProcessingRequest_RequestBody:
		kind = "reqB"
	case *extprocsvc.ProcessingRequest_RequestTrailers:
		kind = "reqT"
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		kind = "respH"
	case *extprocsvc.ProcessingRequest_ResponseBody:
		kind = "respB"
	case *extprocsvc.ProcessingRequest_ResponseTrailers:
		kind = "respT"
	}
	p.kinds = append(p.kinds, kind)
	p.msgs = append(p.msgs, r)
}

// take returns and forgets what was recorded.
func (p *extProc) take() ([]string, []*extprocsvc.ProcessingRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, m := p.kinds, p.msgs
	p.kinds, p.msgs = nil, nil
	return k, m
}

// caConfigMap is the ConfigMap grpc-ext-proc-ca holding the processor's CA.
func (p *extProc) caConfigMap(ns string) string {
	return caConfigMapYAML("grpc-ext-proc-ca", ns, p.caPEM)
}

// caConfigMapYAML is a ConfigMap holding a CA certificate under ca.crt, as
// a BackendTLSPolicy's caCertificateRefs reads it.
func caConfigMapYAML(name, ns, pem string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\ndata:\n  ca.crt: |\n    " +
		strings.ReplaceAll(strings.TrimRight(pem, "\n"), "\n", "\n    ") + "\n"
}

// seen is what a header-echo backend got.
type seen struct {
	Path    string      `json:"path"`
	Headers http.Header `json:"headers"`
	Body    string      `json:"body"`
}

// echoBackend answers with the request it got (path, headers, body).
func echoBackend(t *testing.T) int {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Path: r.URL.Path, Headers: r.Header, Body: string(b)})
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// send sends method path (with body and headers) to host through the
// proxy and returns the response and what the echo backend saw.
func (e *env) send(method, host, path, body string, hdr ...string) (*http.Response, seen) {
	e.t.Helper()
	req, _ := http.NewRequest(method, "http://127.0.0.1:"+itoa(e.gwPort)+path, strings.NewReader(body))
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s seen
	_ = json.Unmarshal(b, &s)
	return resp, s
}

// sendUnhurried is send, again while the answer is a 504: the manifests
// keep Envoy's 200 ms message timeout, which a loaded machine's scheduler
// can exceed; what the tests check is what a processor that answers does.
func (e *env) sendUnhurried(method, host, path, body string, hdr ...string) (*http.Response, seen) {
	e.t.Helper()
	for i := 0; ; i++ {
		resp, s := e.send(method, host, path, body, hdr...)
		if resp.StatusCode != http.StatusGatewayTimeout || i == 20 {
			return resp, s
		}
	}
}

// policyStatus returns the first ancestor's conditions of an object in
// /status, by kind and name.
func (e *env) policyConditions(kind, name string) []map[string]any {
	e.t.Helper()
	for _, o := range e.statusList().Items {
		if n, _ := o.Metadata["name"].(string); o.Kind != kind || n != name {
			continue
		}
		ancs, _ := o.Status["ancestors"].([]any)
		if len(ancs) == 0 {
			return nil
		}
		var out []map[string]any
		for _, c := range ancs[0].(map[string]any)["conditions"].([]any) {
			out = append(out, c.(map[string]any))
		}
		return out
	}
	return nil
}

func condStatus(conds []map[string]any, typ string) (string, string, string) {
	for _, c := range conds {
		if c["type"] == typ {
			return c["status"].(string), c["reason"].(string), c["message"].(string)
		}
	}
	return "", "", ""
}
