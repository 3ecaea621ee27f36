package proxy_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// TestCoreStats sends requests that succeed, find no route and reach a
// dead backend, and reads the counters Envoy would keep for them.
func TestCoreStats(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	rc := &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"},
		Routes: []*routev3.Route{
			{Match: prefix("/live"), Action: routeTo("live")},
			{Match: prefix("/dead"), Action: routeTo("dead")},
		}}}}
	h.pushAndWait(t, basic(port, rc, map[string][]string{"live": {backend(t, "live")}, "dead": {dead}}))

	oneShot := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, c := range []struct {
		path string
		code int
	}{{"/live", 200}, {"/live/a", 200}, {"/live/b", 200}, {"/none", 404}, {"/none/x", 404}, {"/dead", 503}} {
		resp, err := oneShot.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, c.path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Fatalf("%s: %d, want %d", c.path, resp.StatusCode, c.code)
		}
	}
	hp, lp := fmt.Sprintf("http.http-%d.", port), fmt.Sprintf("listener.127.0.0.1_%d.", port)
	want := map[string]int64{
		hp + "downstream_rq_total": 6, hp + "downstream_rq_2xx": 3, hp + "downstream_rq_4xx": 2, hp + "downstream_rq_5xx": 1,
		hp + "downstream_rq_1xx": 0, hp + "downstream_rq_3xx": 0, hp + "downstream_cx_total": 6, hp + "downstream_cx_active": 0,
		lp + "downstream_cx_total": 6, lp + "downstream_cx_active": 0,
		"cluster.live.upstream_rq_total": 3, "cluster.live.upstream_rq_2xx": 3, "cluster.live.upstream_cx_connect_fail": 0,
		"cluster.dead.upstream_rq_total": 1, "cluster.dead.upstream_cx_connect_fail": 1, "cluster.dead.upstream_rq_5xx": 1,
		"cluster.dead.upstream_rq_retry": 0, "cluster.dead.upstream_rq_timeout": 0,
	}
	// The counts of a request land when its stream ends, just after the
	// client has its response, and a connection leaves the active gauge
	// when the server closes it: wait for them.
	var got map[string]int64
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = map[string]int64{}
		for _, s := range h.p.Stats() {
			got[s.Name] = s.Value
		}
		if sameCounts(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %d (present %v), want %d", name, g, ok, v)
		}
	}
}

func sameCounts(got, want map[string]int64) bool {
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			return false
		}
	}
	return true
}

// counter is the proxy's stat named name (0 when it has none).
func counter(h *harness, name string) int64 {
	for _, s := range h.p.Stats() {
		if s.Name == name {
			return s.Value
		}
	}
	return 0
}
