package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEchoHandler(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/a/b?x=1", nil)
	req.Host = "www.example.com"
	req.Header.Set("X-Test", "yes")
	w := httptest.NewRecorder()
	echoHandler().ServeHTTP(w, req)
	var body struct {
		Path, Host, Method string
		Headers            map[string][]string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Path != "/a/b?x=1" || body.Host != "www.example.com" || body.Method != "POST" || body.Headers["X-Test"][0] != "yes" {
		t.Fatalf("echo = %+v", body)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// `portico run -f <quickstart> --demo-backend ADDR` serves a real response
// with nothing else running. The quickstart is rewritten with free ports.
func TestRunQuickstartWithDemoBackend(t *testing.T) {
	raw, err := os.ReadFile("../../examples/quickstart/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw, demo, admin := freePort(t), freePort(t), freePort(t)
	y := strings.Replace(string(raw), "port: 80\n", fmt.Sprintf("port: %d\n", gw), 1)
	y = strings.ReplaceAll(y, "3000", fmt.Sprint(demo))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quickstart.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCommand()
	cmd.SetArgs([]string{"run", "-f", dir, "--demo-backend", fmt.Sprintf("127.0.0.1:%d", demo),
		"--admin-address", fmt.Sprintf("127.0.0.1:%d", admin), "--xds-address", "127.0.0.1:0",
		"--listener-address", "127.0.0.1", "--log-level", "error"})
	cmd.SetOut(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(15 * time.Second):
			t.Error("portico run did not stop")
		}
	}()

	// Wait for /readyz (polling: the admin API is the readiness signal).
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", admin))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			if st := statusJSON(admin); strings.Contains(st, " rejected ") {
				i := strings.Index(st, "unsupported")
				t.Skipf("the built-in proxy rejected the quickstart (%s)", st[max(i, 0):min(max(i, 0)+120, len(st))])
			}
		}
		select {
		case err := <-done:
			t.Fatalf("portico run exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("portico run never became ready")
		}
		time.Sleep(25 * time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/get", gw), nil)
	req.Host = "www.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var echo struct{ Path, Host, Method string }
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET through the proxy: %d %v", resp.StatusCode, err)
	}
	if echo.Path != "/get" || echo.Host != "www.example.com" || echo.Method != "GET" {
		t.Fatalf("echo = %+v", echo)
	}
}

func statusJSON(admin int) string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/status", admin))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
