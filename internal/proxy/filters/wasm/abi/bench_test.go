package abi

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

// rss is the process's resident memory in bytes.
func rss(b *testing.B) int64 {
	f, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm")
	}
	pages, _ := strconv.ParseInt(strings.Fields(string(f))[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkPoolMemory reports what a pool of 2 and of 16 VMs of the Go
// header plugin (a 2.7 MB module) adds to the process: resident memory
// and Go heap, in MB per pool and per VM. Run with -benchtime 1x; the
// compiled code is cached first so only the VMs are counted.
func BenchmarkPoolMemory(b *testing.B) {
	code := wasmtest.Build(b, "header")
	cache := wazero.NewCompilationCache()
	warm, err := Load(context.Background(), code, PluginConfig{PoolSize: 1, CompilationCache: cache, Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer warm.Close()
	for _, n := range []int{2, 16} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				r0 := rss(b)
				p, err := Load(context.Background(), code, PluginConfig{PoolSize: n, CompilationCache: cache, Logger: quietLog})
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				r1 := rss(b)
				const mb = 1 << 20
				b.ReportMetric(float64(r1-r0)/mb, "MB-rss/pool")
				b.ReportMetric(float64(r1-r0)/mb/float64(n), "MB-rss/VM")
				b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/mb/float64(n), "MB-heap/VM")
				p.Close()
			}
		})
	}
}
