package proxy_test

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// benchSetup starts a small-response backend and a proxy routing to it.
func benchSetup(b *testing.B) (direct, viaProxy string) {
	body := []byte("hello from the backend\n")
	be := serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write(body)
	}))
	h := newHarness(b)
	port := freePort(b)
	h.pushAndWait(b, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))
	return "http://" + be + "/", "http://127.0.0.1:" + itoa(port) + "/"
}

func fetch(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// BenchmarkThroughput measures requests through the proxy and straight to
// the backend (same client, keep-alive, 8 concurrent clients per CPU).
//
//	go test ./internal/proxy -run '^$' -bench Throughput -benchtime 3s
func BenchmarkThroughput(b *testing.B) {
	direct, viaProxy := benchSetup(b)
	run := func(b *testing.B, url string) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		b.ReportAllocs()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				fetch(b, c, url)
			}
		})
	}
	b.Run("direct", func(b *testing.B) { run(b, direct) })
	b.Run("proxy", func(b *testing.B) { run(b, viaProxy) })
}

// BenchmarkThroughputRatio interleaves direct and proxied batches so that
// a noisy, shared machine affects both alike, and reports proxy/direct
// time per request as "ratio".
//
//	go test ./internal/proxy -run '^$' -bench ThroughputRatio -benchtime 20000x
func BenchmarkThroughputRatio(b *testing.B) {
	direct, viaProxy := benchSetup(b)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	const workers, batch = 16, 400
	timeBatch := func(url string, n int) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		per := (n + workers - 1) / workers
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					fetch(b, c, url)
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	timeBatch(direct, batch) // warm both connection pools
	timeBatch(viaProxy, batch)
	b.ResetTimer()
	var td, tp time.Duration
	for done := 0; done < b.N; done += batch {
		td += timeBatch(direct, batch)
		tp += timeBatch(viaProxy, batch)
	}
	b.StopTimer()
	n := float64(max(b.N, batch))
	b.ReportMetric(float64(td.Nanoseconds())/n, "direct-ns/req")
	b.ReportMetric(float64(tp.Nanoseconds())/n, "proxy-ns/req")
	b.ReportMetric(float64(tp)/float64(td), "ratio")
}
