//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/infra/host"
	"github.com/portico-gw/portico/internal/runner"
)

func processes(t *testing.T, admin int) []host.Process {
	t.Helper()
	var l runner.StatusList
	if err := json.Unmarshal([]byte(statusJSON(admin)), &l); err != nil {
		t.Fatalf("/status: %v", err)
	}
	return l.Portico.Processes
}

// eventually polls cond for 15 seconds (the restart back-off starts at a
// quarter of a second).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestProxyChildRestartsAfterSIGKILL is issue 12 item 6: the proxy ran in
// the control plane's process, so a data plane blow-up took both down.
// `portico run` now runs it as a child process; one killed with SIGKILL is
// restarted and serves again, and its exit shows in /status and /metrics.
func TestProxyChildRestartsAfterSIGKILL(t *testing.T) {
	gw, admin := runQuickstart(t)
	getEcho(t, gw, "/before")

	ps := processes(t, admin)
	if len(ps) != 1 || ps[0].Fleet != "default/eg" || ps[0].Command != "portico proxy" || ps[0].PID == 0 || ps[0].Starts != 1 {
		t.Fatalf("processes = %+v; want one running portico proxy for default/eg", ps)
	}
	first := ps[0].PID
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new proxy process", func() bool {
		ps = processes(t, admin)
		return len(ps) == 1 && ps[0].PID != 0 && ps[0].PID != first && ps[0].Starts == 2
	})
	if e := ps[0].LastExit; ps[0].Exits != 1 || e == nil || e.Status != "signal: killed" {
		t.Fatalf("the exit is not reported: %+v", ps[0])
	}
	// The new process connects over mTLS and serves again.
	eventually(t, "traffic through the restarted proxy", func() bool {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/after", gw), nil)
		req.Host = "www.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", admin))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`portico_proxy_process_exits_total{command="portico proxy",fleet="default/eg"} 1`,
		`portico_proxy_process_starts_total{command="portico proxy",fleet="default/eg"} 2`,
		`portico_proxy_process_up{command="portico proxy",fleet="default/eg"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
