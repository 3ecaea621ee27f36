package resource

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// routes1000 is a stream of 1000 distinct HTTPRoutes of the shape users write.
func routes1000() []byte {
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-%d
  namespace: default
spec:
  parentRefs:
  - name: eg
    sectionName: http
  hostnames:
  - "www-%d.example.com"
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /api/%d
      headers:
      - name: x-tenant
        value: t%d
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: x-route
          value: r%d
    backendRefs:
    - group: ""
      kind: Service
      name: backend-%d
      port: 3000
      weight: 1
`, i, i, i, i, i, i%10)
	}
	return []byte(b.String())
}

// BenchmarkLoad1000HTTPRoutes: go test ./internal/resource -run '^$' -bench Load1000 -benchmem
func BenchmarkLoad1000HTTPRoutes(b *testing.B) {
	data := routes1000()
	if _, probs := LoadBytes("routes.yaml", data); len(probs) > 0 {
		b.Fatal(probs) // also compiles the HTTPRoute CRD outside the timed loop
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set, probs := LoadBytes("routes.yaml", data)
		if len(probs) > 0 || len(set.HTTPRoutes) != 1000 {
			b.Fatal(probs)
		}
	}
	b.StopTimer()
	// CPU time (all threads, incl. GC) is stable on a busy shared machine where wall
	// time is not; wall time is ns/op.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCacheReloadOneEdit1000 is the file provider's reload after one
// of 1000 route files changed: what a route edit costs before translation.
//
//	go test ./internal/resource -run XXX -bench CacheReload -benchmem
func BenchmarkCacheReloadOneEdit1000(b *testing.B) {
	dir := b.TempDir()
	docs := strings.Split(string(routes1000()), "---\n")[1:]
	for i, d := range docs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%04d.yaml", i)), []byte(d), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	c := NewCache()
	if _, _, err := c.Load([]string{dir}); err != nil {
		b.Fatal(err)
	}
	edited := filepath.Join(dir, "r0007.yaml")
	i := 0
	for b.Loop() {
		i++
		data := strings.Replace(docs[7], "www-7.", fmt.Sprintf("www-7-%d.", i%2), 1)
		if err := os.WriteFile(edited, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
		c.Changed(edited)
		if _, probs, err := c.Load([]string{dir}); err != nil || len(probs) > 0 {
			b.Fatal(err, probs)
		}
	}
}
