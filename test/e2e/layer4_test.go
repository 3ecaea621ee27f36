package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/tcpproxy/tcptest"
	"github.com/portico-gw/portico/internal/proxy/tlsconf/tlstest"
	"github.com/portico-gw/portico/internal/runner"
)

// lockedBuf collects the proxies' access logs.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// layer4Ports are the Gateway's listener ports of the scenario. The TLS
// Terminate listener and an HTTPS one share the Passthrough one's port
// (one socket, chains by SNI).
type layer4Ports struct{ http, tcp, passthrough, twoRules, refused int }

// layer4Files is a Gateway with HTTP, TCP, UDP (on the TCP port), TLS
// Passthrough and TLS Terminate listeners, good routes on each, and the
// bad ones: a second TCPRoute on the TCP listener, a TCPRoute with two
// rules, and one whose backend refuses connections.
func layer4Files(p layer4Ports, svc map[string]int, udpPort int, certPEM, keyPEM, wwwPEM, wwwKey string) map[string]string {
	var b strings.Builder
	b.WriteString(classAndServices(svc))
	fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: udp-echo, namespace: default}
spec:
  clusterIP: 127.0.0.1
  ports: [{name: udp, port: %d, protocol: UDP}]
---
apiVersion: v1
kind: Secret
metadata: {name: term-cert, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
---
apiVersion: v1
kind: Secret
metadata: {name: www-cert, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, protocol: HTTP, port: %d}
  - {name: tcp, protocol: TCP, port: %d}
  - {name: udp, protocol: UDP, port: %d}
  - {name: tls-passthrough, protocol: TLS, port: %d, tls: {mode: Passthrough}}
  - name: tls-terminate
    protocol: TLS
    port: %d
    hostname: term.test
    tls: {mode: Terminate, certificateRefs: [{name: term-cert}]}
  - name: https
    protocol: HTTPS
    port: %d
    hostname: www.example.com
    tls: {certificateRefs: [{name: www-cert}]}
  - {name: tcp-two-rules, protocol: TCP, port: %d}
  - {name: tcp-refused, protocol: TCP, port: %d}
`, udpPort, base64.StdEncoding.EncodeToString([]byte(certPEM)), base64.StdEncoding.EncodeToString([]byte(keyPEM)),
		base64.StdEncoding.EncodeToString([]byte(wwwPEM)), base64.StdEncoding.EncodeToString([]byte(wwwKey)),
		p.http, p.tcp, p.tcp, p.passthrough, p.passthrough, p.passthrough, p.twoRules, p.refused)
	route := func(kind, name, section, host, rules string) {
		// Same creation time: the older by name ("echo") keeps the TCP
		// listener. v1 allows one rule only (its schema says so); v1alpha2
		// allowed more, and Envoy Gateway refuses them.
		version := "v1"
		if name == "two-rules" {
			version = "v1alpha2"
		}
		fmt.Fprintf(&b, "---\napiVersion: gateway.networking.k8s.io/%s\nkind: %s\nmetadata: {name: %s, namespace: default}\nspec:\n  parentRefs: [{name: eg, sectionName: %s}]\n",
			version, kind, name, section)
		if host != "" {
			fmt.Fprintf(&b, "  hostnames: [%s]\n", host)
		}
		b.WriteString("  rules:\n" + rules)
	}
	backendRule := func(svc string, port int) string {
		return fmt.Sprintf("  - backendRefs: [{name: %s, port: %d}]\n", svc, port)
	}
	route("TCPRoute", "echo", "tcp", "", backendRule("tcp-echo", svc["tcp-echo"]))
	route("TCPRoute", "second", "tcp", "", backendRule("tcp-echo", svc["tcp-echo"]))
	route("UDPRoute", "udp", "udp", "", backendRule("udp-echo", udpPort))
	route("TLSRoute", "a", "tls-passthrough", "a.test", backendRule("tls-a", svc["tls-a"]))
	route("TLSRoute", "b", "tls-passthrough", "b.test", backendRule("tls-b", svc["tls-b"]))
	route("TLSRoute", "term", "tls-terminate", "term.test", backendRule("tcp-echo", svc["tcp-echo"]))
	route("TCPRoute", "two-rules", "tcp-two-rules", "", backendRule("tcp-echo", svc["tcp-echo"])+backendRule("tcp-echo", svc["tcp-echo"]))
	route("TCPRoute", "refused", "tcp-refused", "", backendRule("down", svc["down"]))
	b.WriteString("---\n" + routeYAML("http-backend", svc["http-backend"]))
	return map[string]string{"gateway.yaml": b.String()}
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// routeCondition is a route's condition of that type (first parent).
func (e *env) routeCondition(kind, name, typ string) condition {
	e.t.Helper()
	for _, o := range e.statusList().Items {
		if n, _ := o.Metadata["name"].(string); o.Kind != kind || n != name {
			continue
		}
		parents, _ := o.Status["parents"].([]any)
		if len(parents) == 0 {
			return condition{}
		}
		for _, c := range parents[0].(map[string]any)["conditions"].([]any) {
			m := c.(map[string]any)
			if m["type"] == typ {
				return condition{Type: typ, Status: fmt.Sprint(m["status"]), Reason: fmt.Sprint(m["reason"]), Message: fmt.Sprint(m["message"])}
			}
		}
	}
	return condition{}
}

func dialT(t *testing.T, port int) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TCPRoute, TLSRoute (Passthrough and Terminate) and UDPRoute served end
// to end by the built-in proxy, next to an HTTPRoute, with the bad routes
// reported and not disturbing the rest.
func TestLayer4Routes(t *testing.T) {
	ca := tlstest.NewCA(t)
	svc := map[string]int{
		"tcp-echo": portOf(tcptest.Echo(t, "echo")), "tls-a": portOf(tcptest.TLSNamed(t, ca, "a.test")),
		"tls-b": portOf(tcptest.TLSNamed(t, ca, "b.test")), "http-backend": backend(t, "http"), "down": freePort(t),
	}
	p := layer4Ports{http: freePort(t), tcp: freePort(t), passthrough: freePort(t), twoRules: freePort(t), refused: freePort(t)}
	termChain, termKey := ca.Leaf(t, "term.test")
	wwwChain, wwwKey := ca.Leaf(t, "www.example.com")
	logs := &lockedBuf{}
	e := startWithOptions(t, nil, layer4Files(p, svc, portOf(tcptest.UDPEcho(t, "udp")), termChain, termKey, wwwChain, wwwKey), p.http,
		func(o *runner.Options) { o.ProxyAccessLog = logs })
	sc := &layer4Scene{e: e, p: p, ca: ca, logs: logs}
	t.Run("statuses", sc.statuses)
	t.Run("tcp", sc.tcp)
	t.Run("passthrough", sc.passthrough)
	t.Run("terminate", sc.terminate)
	t.Run("udp", sc.udp)
	t.Run("refused backend", sc.refusedBackend)
	t.Run("two rules: not served", sc.twoRulesNotServed)
	t.Run("http still served", sc.httpStillServed)
	t.Run("https beside passthrough", sc.httpsBesidePassthrough)
}

// layer4Scene is TestLayer4Routes's running gateway and what its checks use.
type layer4Scene struct {
	e    *env
	p    layer4Ports
	ca   *tlstest.CA
	logs *lockedBuf
}

func (sc *layer4Scene) statuses(t *testing.T) {
	for _, c := range []struct{ kind, name, status, reason, msg string }{
		{"TCPRoute", "echo", "True", "Accepted", "Route is accepted"},
		{"TCPRoute", "second", "False", "UnsupportedValue", "Multiple routes on the same TCP listener"},
		{"TCPRoute", "two-rules", "False", "InvalidRule", "One and only one rule is supported"},
		{"UDPRoute", "udp", "True", "Accepted", "Route is accepted"},
		{"TLSRoute", "a", "True", "Accepted", "Route is accepted"},
		{"TLSRoute", "term", "True", "Accepted", "Route is accepted"},
	} {
		got := sc.e.routeCondition(c.kind, c.name, "Accepted")
		if got.Status != c.status || got.Reason != c.reason || got.Message != c.msg {
			t.Errorf("%s %s: Accepted %+v, want %s/%s %q", c.kind, c.name, got, c.status, c.reason, c.msg)
		}
	}
}

func (sc *layer4Scene) tcp(t *testing.T) {
	c := dialT(t, sc.p.tcp)
	_, _ = io.WriteString(c, "hello")
	_ = c.CloseWrite()
	if got, err := io.ReadAll(c); string(got) != "echo:hello" {
		t.Errorf("got %q, %v", got, err)
	}
}

func (sc *layer4Scene) passthrough(t *testing.T) {
	for _, sni := range []string{"a.test", "b.test"} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", sc.p.passthrough),
			&tls.Config{RootCAs: sc.ca.Pool(), ServerName: sni})
		if err != nil {
			t.Fatalf("%s: %v", sni, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].DNSNames[0]; got != sni {
			t.Errorf("%s: the client saw %s's certificate, not the backend's own", sni, got)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if line != "backend "+sni+"\n" {
			t.Errorf("%s: got %q", sni, line)
		}
	}
}

func (sc *layer4Scene) terminate(t *testing.T) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", sc.p.passthrough),
		&tls.Config{RootCAs: sc.ca.Pool(), ServerName: "term.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "over tls")
	_ = c.CloseWrite()
	if got, _ := io.ReadAll(c); string(got) != "echo:over tls" {
		t.Errorf("got %q", got)
	}
}

func (sc *layer4Scene) udp(t *testing.T) {
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", sc.p.tcp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for _, msg := range []string{"ping", "pong"} {
		_, _ = c.Write([]byte(msg))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "udp:"+msg {
			t.Fatalf("got %q, %v", buf[:n], err)
		}
	}
}

func (sc *layer4Scene) refusedBackend(t *testing.T) {
	c := dialT(t, sc.p.refused)
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes; the connection should be closed", n)
	}
	sc.e.eventually("an access log line with UF", func() bool {
		for _, l := range strings.Split(sc.logs.String(), "\n") {
			if strings.Contains(l, `"response_flags":"UF"`) && strings.Contains(l, "tcproute/default/refused/rule/-1") {
				return true
			}
		}
		return false
	})
}

func (sc *layer4Scene) twoRulesNotServed(t *testing.T) {
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", sc.p.twoRules), 2*time.Second); err == nil {
		c.Close()
		t.Error("the listener of a route with two rules has no route and must not be bound")
	}
}

func (sc *layer4Scene) httpStillServed(t *testing.T) {
	if code, name, err := sc.e.get("/"); code != 200 || name != "http" {
		t.Errorf("HTTP route: %d %q %v", code, name, err)
	}
}

func (sc *layer4Scene) httpsBesidePassthrough(t *testing.T) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sc.ca.Pool(), ServerName: "www.example.com"}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/", sc.p.passthrough), nil)
	req.Host = "www.example.com"
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"backend":"http"`) {
		t.Errorf("HTTPS route: %d %s", resp.StatusCode, body)
	}
}
