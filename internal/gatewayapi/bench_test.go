package gatewayapi

import (
	"testing"

	"github.com/portico-gw/portico/bench/routegen"
	"github.com/portico-gw/portico/internal/resource"
)

// BenchmarkTranslate1000Routes measures Gateway API -> IR alone on
// bench/gen-routes' input (1000 HTTPRoutes, two rules each, 50 Services).
func BenchmarkTranslate1000Routes(b *testing.B) {
	set, problems := resource.LoadBytes("routes.yaml", routegen.Bytes(1000, 50), resource.WithDefaultNamespace("default"))
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := Translate(set, Options{})
		if len(r.HTTPRoutes) != 1000 {
			b.Fatalf("translated %d routes", len(r.HTTPRoutes))
		}
	}
}
