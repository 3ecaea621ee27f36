package pipeline

import (
	"bytes"
	"fmt"
	"testing"

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
	cfg := config(false)
	memo := NewMemo()
	Run(sets[0], cfg, Options{Memo: memo})
	i := 0
	for b.Loop() {
		i++
		Run(sets[i%2], cfg, Options{Memo: memo})
	}
}
