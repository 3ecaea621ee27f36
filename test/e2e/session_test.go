package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
)

// sessionFiles are a Backend with one endpoint per port and an HTTPRoute
// that sends /cookie and /header to it with cookie- and header-based
// session persistence.
func sessionFiles(gw int, ports ...int) map[string]string {
	var eps []string
	for _, p := range ports {
		eps = append(eps, fmt.Sprintf("{ip: {address: 127.0.0.1, port: %d}}", p))
	}
	return map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, nil),
		"backend.yaml": fmt.Sprintf(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: pool, namespace: default}
spec:
  endpoints: [%s]
`, strings.Join(eps, ", ")),
		"route.yaml": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: sticky, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [www.example.com]
  rules:
    - matches: [{path: {type: PathPrefix, value: /cookie}}]
      sessionPersistence:
        sessionName: sticky
        type: Cookie
        absoluteTimeout: 1h
        cookieConfig: {lifetimeType: Permanent}
      backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: pool}]
    - matches: [{path: {type: PathPrefix, value: /header}}]
      sessionPersistence: {sessionName: x-session, type: Header}
      backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: pool}]
`,
	}
}

type sessionReply struct {
	code      int
	backend   string
	setCookie string
	header    string // the x-session response header
}

// sessionGet sends GET path with one request header (name: value) when
// name is not empty.
func (e *env) sessionGet(t *testing.T, path, name, value string) sessionReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", e.gwPort, path), nil)
	req.Host = "www.example.com"
	if name != "" {
		req.Header.Set(name, value)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body map[string]string
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return sessionReply{code: resp.StatusCode, backend: body["backend"],
		setCookie: resp.Header.Get("Set-Cookie"), header: resp.Header.Get("X-Session")}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// HTTPRoute sessionPersistence served by the built-in proxy with two real
// backends behind one cluster: the first response names the host picked
// (Set-Cookie, or the header), requests that carry it stay on that host,
// a request naming the other host goes there, and a session whose host
// left the cluster is balanced again and named anew.
func TestSessionPersistence(t *testing.T) {
	one, two := backend(t, "one"), backend(t, "two")
	addr := map[string]string{"one": fmt.Sprintf("127.0.0.1:%d", one), "two": fmt.Sprintf("127.0.0.1:%d", two)}
	other := map[string]string{"one": "two", "two": "one"}
	gw := freePort(t)
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableBackend: true}
	e := startWith(t, cfg, sessionFiles(gw, one, two), gw)

	// Cookie: the first answer sets it to the host that answered.
	first := e.sessionGet(t, "/cookie/a", "", "")
	want := `sticky="` + b64(addr[first.backend]) + `"; Max-Age=3600; Path=/cookie; HttpOnly`
	if first.code != 200 || first.setCookie != want {
		t.Fatalf("first request: %d %q Set-Cookie %q, want %q", first.code, first.backend, first.setCookie, want)
	}
	cookie := "sticky=" + `"` + b64(addr[first.backend]) + `"`
	for i := 0; i < 10; i++ {
		r := e.sessionGet(t, fmt.Sprintf("/cookie/%d", i), "Cookie", cookie)
		if r.code != 200 || r.backend != first.backend || r.setCookie != "" {
			t.Fatalf("request %d with the cookie: %d %q Set-Cookie %q, want %q and no cookie", i, r.code, r.backend, r.setCookie, first.backend)
		}
	}
	// The cookie decides, not the balancer: the other host's cookie goes there.
	o := other[first.backend]
	for i := 0; i < 5; i++ {
		if r := e.sessionGet(t, "/cookie", "Cookie", "sticky="+b64(addr[o])); r.backend != o || r.setCookie != "" {
			t.Fatalf("cookie for %s: %d %q Set-Cookie %q", o, r.code, r.backend, r.setCookie)
		}
	}
	// A host that is not in the cluster: balanced, and the cookie is reset.
	stale := e.sessionGet(t, "/cookie", "Cookie", "sticky="+b64(fmt.Sprintf("127.0.0.1:%d", freePort(t))))
	if stale.code != 200 || !strings.HasPrefix(stale.setCookie, `sticky="`+b64(addr[stale.backend])+`"`) {
		t.Fatalf("stale cookie: %d %q Set-Cookie %q", stale.code, stale.backend, stale.setCookie)
	}

	// Header: the same with x-session.
	h := e.sessionGet(t, "/header", "", "")
	if h.code != 200 || h.header != b64(addr[h.backend]) || h.setCookie != "" {
		t.Fatalf("first header request: %d %q x-session %q Set-Cookie %q", h.code, h.backend, h.header, h.setCookie)
	}
	for i := 0; i < 10; i++ {
		if r := e.sessionGet(t, "/header", "X-Session", h.header); r.backend != h.backend || r.header != "" {
			t.Fatalf("request %d with the header: %q x-session %q, want %q", i, r.backend, r.header, h.backend)
		}
	}

	// Host two leaves the cluster: its sessions move to one and are named anew.
	files := sessionFiles(gw, one)
	writeFile(t, filepath.Join(e.dir, "backend.yaml"), files["backend.yaml"])
	e.eventually("two's session to move to one", func() bool {
		r := e.sessionGet(t, "/cookie", "Cookie", "sticky="+b64(addr["two"]))
		return r.backend == "one" && strings.HasPrefix(r.setCookie, `sticky="`+b64(addr["one"])+`"`)
	})
	if r := e.sessionGet(t, "/header", "X-Session", b64(addr["two"])); r.backend != "one" || r.header != b64(addr["one"]) {
		t.Fatalf("header session of a removed host: %q x-session %q", r.backend, r.header)
	}
}

// A GRPCRoute rule's sessionPersistence, served as an HTTPRoute's: the
// x-session response header names the host, and calls that send it back
// stay there. The two backends answer differently (SERVING, NOT_SERVING),
// so each answer says which one it came from.
func TestGRPCSessionPersistence(t *testing.T) {
	a := healthBackend(t, healthpb.HealthCheckResponse_SERVING)
	b := healthBackend(t, healthpb.HealthCheckResponse_NOT_SERVING)
	byStatus := map[healthpb.HealthCheckResponse_ServingStatus]string{
		healthpb.HealthCheckResponse_SERVING: fmt.Sprintf("127.0.0.1:%d", a), healthpb.HealthCheckResponse_NOT_SERVING: fmt.Sprintf("127.0.0.1:%d", b)}
	gw := freePort(t)
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableBackend: true}
	startWith(t, cfg, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, nil), "grpc.yaml": fmt.Sprintf(`apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: pool, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: %d}}, {ip: {address: 127.0.0.1, port: %d}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: sticky, namespace: default}
spec:
  parentRefs: [{name: eg}]
  rules:
    - matches: [{method: {service: grpc.health.v1.Health, method: Check}}]
      sessionPersistence: {sessionName: x-session, type: Header}
      backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: pool}]
`, a, b)}, gw)
	conn, ctx := gatewayConn(t, gw)
	cli := healthpb.NewHealthClient(conn)
	check := func(ctx context.Context) (healthpb.HealthCheckResponse_ServingStatus, string) {
		t.Helper()
		var md metadata.MD
		r, err := cli.Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"}, grpc.Header(&md))
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return r.GetStatus(), strings.Join(md.Get("x-session"), ",")
	}

	st, session := check(ctx)
	if session != b64(byStatus[st]) {
		t.Fatalf("first call answered %v with x-session %q, want %q", st, session, b64(byStatus[st]))
	}
	for i := 0; i < 10; i++ {
		if got, s := check(metadata.AppendToOutgoingContext(ctx, "x-session", session)); got != st || s != "" {
			t.Fatalf("call %d with the session: %v x-session %q, want %v", i, got, s, st)
		}
	}
	other := healthpb.HealthCheckResponse_SERVING
	if st == other {
		other = healthpb.HealthCheckResponse_NOT_SERVING
	}
	if got, _ := check(metadata.AppendToOutgoingContext(ctx, "x-session", b64(byStatus[other]))); got != other {
		t.Fatalf("a session on the other host answered %v, want %v", got, other)
	}
}
