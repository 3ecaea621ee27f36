package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Issue 12 item 3: Envoy Gateway puts upgrade_configs on the route only
// (the HCM has none); Envoy then allows the upgrade, and so must the
// built-in proxy. A real WebSocket echo server behind the quickstart route
// answers through the gateway, in both directions, several times.
func TestWebSocketThroughTheGateway(t *testing.T) {
	echo := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		for {
			var m string
			if websocket.Message.Receive(c, &m) != nil || websocket.Message.Send(c, m) != nil {
				return
			}
		}
	}))
	t.Cleanup(echo.Close)
	bePort := echo.Listener.Addr().(*net.TCPAddr).Port
	gw := freePort(t)
	e := start(t, map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bePort}),
		"route.yaml":   routeYAML("backend", bePort),
	}, gw)

	// What the gateway is configured with: upgrade_configs on the route,
	// none on the listener's HCM.
	_, dump := e.admin("/config_dump")
	if !strings.Contains(string(dump), "upgradeType") && !strings.Contains(string(dump), "upgrade_type") {
		t.Fatalf("no upgrade config in the config dump")
	}

	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", gw), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	cfg, err := websocket.NewConfig(fmt.Sprintf("ws://www.example.com:%d/chat", gw), "http://www.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		t.Fatalf("the upgrade through the gateway failed: %v", err)
	}
	for i, msg := range []string{"hello", strings.Repeat("x", 70000), "bye"} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		if got != msg {
			t.Fatalf("message %d came back as %d bytes, want %d", i, len(got), len(msg))
		}
	}

	// A plain request on the same route still works.
	resp, err := e.do("www.example.com", "/")
	if err != nil || resp.StatusCode == http.StatusForbidden {
		t.Fatalf("plain request: %v %v", resp, err)
	}
	resp.Body.Close()
}

// Issue 12 item 2, as reported: with only /public routed, a request for
// /public/%2e%2e/admin is normalised to /admin before routing (404) and
// never reaches the /public backend un-normalised.
func TestPathTraversalThroughTheGateway(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI)
		mu.Unlock()
	}))
	t.Cleanup(public.Close)
	bePort := public.Listener.Addr().(*net.TCPAddr).Port
	gw := freePort(t)
	route := strings.Replace(routeYAML("backend", bePort), "value: /", "value: /public", 1)
	e := start(t, map[string]string{"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bePort}), "route.yaml": route}, gw)

	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", gw), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /public/%%2e%%2e/admin HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != http.StatusNotFound || len(seen) != 0 {
		t.Errorf("%d, the /public backend saw %q; want 404 and nothing", resp.StatusCode, seen)
	}
	mu.Unlock()
	r := e.response("www.example.com", "/public/x/../y")
	mu.Lock()
	if r.StatusCode != 200 || len(seen) != 1 || seen[0] != "/public/y" {
		t.Errorf("/public/x/../y: %d, backend saw %q", r.StatusCode, seen)
	}
}
