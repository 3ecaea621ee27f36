package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkUpstreamClient compares h1Pool with net/http's Transport (as
// newNetTransport configures it) on one loopback backend, 8 concurrent
// requests per CPU, 128-byte responses.
//
//	go test ./internal/proxy -run '^$' -bench UpstreamClient -benchmem
func BenchmarkUpstreamClient(b *testing.B) {
	body := make([]byte, 128)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	b.Cleanup(be.Close)
	addr := be.Listener.Addr().String()
	cc := &clusterCfg{connectTimeout: 1e9, breakers: breakers{maxConnections: 1024}}
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1Pool", newTransport(cc, nil, "tcp", addr, false)},
		{"net-http", newNetTransport(cc, nil, "tcp", addr, false)},
	} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://"+addr+"/", nil)
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 512)
				for pb.Next() {
					resp, err := c.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					for {
						if _, err := resp.Body.Read(buf); err != nil {
							if err != io.EOF {
								b.Error(err)
							}
							break
						}
					}
					resp.Body.Close()
				}
			})
		})
	}
}
