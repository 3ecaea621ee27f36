package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/h2flood"
)

// rapidReset floods a new connection to port with up to max reset
// streams and reports how many went out and whether the proxy closed the
// connection (within 20 s).
func rapidReset(t testing.TB, port uint32, max int) (int, bool) {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := h2flood.Flood(c, "x", "/slow", max)
	return r.Sent, r.Closed
}

// Issue 12 (Low): a rapid-reset flood closes the connection after
// Envoy's threshold (500 streams, at least half reset prematurely) and
// the access log gets a bounded number of its lines plus a summary of
// what was dropped; a normal client's requests are all still logged.
func TestRapidResetClosesConnectionAndLimitsLog(t *testing.T) {
	h := newHarness(t)
	port := freePort(t)
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" { // answer nothing until the stream is gone
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	h.pushAndWait(t, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))

	start := time.Now()
	const conns, perConn = 3, 5000
	for i := 0; i < conns; i++ {
		sent, closed := rapidReset(t, port, perConn)
		if !closed {
			t.Fatalf("connection %d: the proxy kept a connection open after %d prematurely reset streams", i, sent)
		}
		if sent < 500 {
			t.Errorf("connection %d closed after %d streams, before Envoy's threshold of 500", i, sent)
		}
	}
	if got := counter(h, fmt.Sprintf("http.http-%d.downstream_rq_too_many_premature_resets", port)); got != conns {
		t.Errorf("%d connections closed for too many premature resets, want %d", got, conns)
	}

	// A normal HTTP/2 client, while the bucket is empty: every request
	// is logged.
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	normal := &http.Client{Transport: &http.Transport{Protocols: p}, Timeout: 10 * time.Second}
	const requests = 50
	for i := 0; i < requests; i++ {
		resp, err := normal.Get(fmt.Sprintf("http://127.0.0.1:%d/normal/%d", port, i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("normal request %d: %d", i, resp.StatusCode)
		}
	}

	summary := regexp.MustCompile(`portico: (\d+) access log entries of prematurely reset streams dropped`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil && !summary.MatchString(h.log.String()) {
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	log := h.log.String()
	floodLines, normalLines, dropped := 0, 0, 0
	for _, line := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(line, `"GET /slow `):
			floodLines++
		case strings.Contains(line, `"GET /normal/`) && strings.Contains(line, `" 200 `):
			normalLines++
		case summary.MatchString(line):
			n, _ := strconv.Atoi(summary.FindStringSubmatch(line)[1])
			dropped += n
		}
	}
	if dropped == 0 {
		t.Fatalf("no summary of dropped lines after the flood (%d flood lines logged)", floodLines)
	}
	// The bucket: a burst of 100, then 100 a second.
	if bound := 100 + int(100*elapsed.Seconds()) + 1; floodLines > bound {
		t.Errorf("%d access log lines for the flood in %v, want at most %d", floodLines, elapsed, bound)
	}
	if normalLines != requests {
		t.Errorf("%d of %d normal requests logged", normalLines, requests)
	}
}
