package wasm

import (
	"net/http/httptest"
	"testing"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/wasm/wasmtest"
)

// BenchmarkFilter is one GET through the filter and a small upstream, in
// process: what the plugin adds to a request (run with -benchmem; the
// "none" case is the same chain without the filter).
func BenchmarkFilter(b *testing.B) {
	cases := []struct {
		name string
		f    func(b *testing.B) filters.Filter
	}{
		{"none", func(*testing.B) filters.Filter {
			return filters.FilterFunc(func(s *filters.Stream, next filters.Next) { next(s) })
		}},
		{"header-go", func(b *testing.B) filters.Filter {
			return build(b, opts{code: inline(wasmtest.Build(b, "header"))}, nil)
		}},
		{"corpus-cpp", func(b *testing.B) filters.Filter {
			return build(b, opts{rootID: "my_root_id", code: inline(corpus(b))}, nil)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := c.f(b)
			serve(f, httptest.NewRequest("GET", "/", nil)) // load
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serve(f, httptest.NewRequest("GET", "/", nil))
			}
		})
	}
}
