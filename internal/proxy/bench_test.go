package proxy_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkThroughput compares requests through the proxy with requests
// straight to the backend (same client, keep-alive, small responses).
// The ratio proxy/direct in ns/op is the proxy's cost factor:
//
//	go test ./internal/proxy -run '^$' -bench Throughput -benchtime 3s
func BenchmarkThroughput(b *testing.B) {
	body := []byte("hello from the backend\n")
	be := serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write(body)
	}))
	h := newHarness(b)
	port := freePort(b)
	h.pushAndWait(b, basic(port, simpleRoutes("a"), map[string][]string{"a": {be}}))
	run := func(b *testing.B, url string) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		b.ReportAllocs()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	b.Run("direct", func(b *testing.B) { run(b, "http://"+be+"/") })
	b.Run("proxy", func(b *testing.B) { run(b, "http://127.0.0.1:"+itoa(port)+"/") })
}
