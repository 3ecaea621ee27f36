package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/bench/routegen"
	"github.com/portico-gw/portico/internal/resource"
)

// BenchmarkRunMemoOneEdit1000 is a reload after one route of 1000 changed,
// with the memo warm: what the runner does on every edit.
//
//	go test ./internal/pipeline -run XXX -bench RunMemo -benchmem
func BenchmarkRunMemoOneEdit1000(b *testing.B) {
	base := routegen.Bytes(1000, 4)
	sets := make([]*resource.Set, 2)
	for i := range sets {
		in := bytes.Replace(base, []byte("host-7.example.com"), fmt.Appendf(nil, "host-7-%d.example.com", i), 1)
		set, problems := resource.LoadBytes("in.yaml", in)
		if len(problems) > 0 {
			b.Fatal(problems)
		}
		sets[i] = set
	}
	// As the file provider hands them over: the second set shares every
	// object but the edited route with the first.
	shared := *sets[0]
	shared.HTTPRoutes = append([]*gwapiv1.HTTPRoute(nil), sets[0].HTTPRoutes...)
	for k, r := range shared.HTTPRoutes {
		if r.Name == "route-7" {
			for _, e := range sets[1].HTTPRoutes {
				if e.Name == "route-7" {
					shared.HTTPRoutes[k] = e
				}
			}
		}
	}
	sets[1] = &shared
	cfg := config(false)
	memo := NewMemo()
	Run(context.Background(), sets[0], cfg, Options{Memo: memo})
	i := 0
	for b.Loop() {
		i++
		Run(context.Background(), sets[i%2], cfg, Options{Memo: memo})
	}
}
