package wasm

import (
	"fmt"
	"testing"

	"github.com/portico-gw/portico/internal/gatewayapi"
	"github.com/portico-gw/portico/internal/wasm/oci"
	"github.com/portico-gw/portico/internal/wasm/oci/ocitest"
)

// BenchmarkImageLoad is the store's part of a new image policy, registry
// on loopback: cold pulls manifest and layer into an empty cache; warm
// finds the module cached under the digest the tag resolves to and fetches
// only the manifest. registry-bytes/op is what the registry sent.
func BenchmarkImageLoad(b *testing.B) {
	mod := plugin(b)
	reg := ocitest.New(b, "", "")
	img, err := oci.Build(mod, oci.FormatDocker, oci.RuntimeConfig{})
	if err != nil {
		b.Fatal(err)
	}
	reg.Push(b, "wasm/p:v1", img)
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "cold", true: "warm"}[warm]
		b.Run(name, func(b *testing.B) {
			shared := b.TempDir()
			var bytes int64
			b.StopTimer()
			for i := range b.N {
				dir := shared
				if !warm {
					dir = b.TempDir()
				}
				s := imageStoreTB(b, dir)
				c := gatewayapi.WasmCode{URL: fmt.Sprintf("oci://%s/wasm/p:v1", reg.Host), Image: true, PullVersion: fmt.Sprint(i)}
				if warm && i == 0 {
					_, _, _ = s.load(c, s.o.Fetcher) // fill the cache once
				}
				reg.ResetCounts()
				b.StartTimer()
				if _, _, err := s.load(c, s.o.Fetcher); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_, _, n := reg.Pulled()
				bytes += n
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "registry-bytes/op")
		})
	}
}
