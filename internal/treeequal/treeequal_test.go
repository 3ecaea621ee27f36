package treeequal

import (
	"math"
	"reflect"
	"testing"

	"github.com/portico-gw/portico/internal/ir"
)

type inner struct {
	S    string
	p    *int
	B    []byte
	M    map[string]any
	Arr  [2]float64
	F    func()
	I    any
	List []*inner
}

func intp(i int) *int { return &i }

// Equal must agree with reflect.DeepEqual on trees.
func TestEqualAgreesWithDeepEqual(t *testing.T) {
	fn := func() {}
	base := func() *inner {
		return &inner{S: "a", p: intp(1), B: []byte("xy"), M: map[string]any{"k": []int{1}}, Arr: [2]float64{1, 2},
			I: ir.StringMatch{Exact: new(string)}, List: []*inner{{S: "child"}}}
	}
	mod := func(f func(*inner)) *inner { v := base(); f(v); return v }
	cases := []struct {
		name string
		a, b any
	}{
		{"same tree", base(), base()},
		{"nil and nil", nil, nil},
		{"nil and value", nil, 1},
		{"different types", 1, int64(1)},
		{"string field", base(), mod(func(v *inner) { v.S = "b" })},
		{"unexported pointer target", base(), mod(func(v *inner) { *v.p = 2 })},
		{"unexported nil pointer", base(), mod(func(v *inner) { v.p = nil })},
		{"bytes", base(), mod(func(v *inner) { v.B = []byte("xz") })},
		{"nil vs empty bytes", mod(func(v *inner) { v.B = nil }), mod(func(v *inner) { v.B = []byte{} })},
		{"map value", base(), mod(func(v *inner) { v.M["k"] = []int{2} })},
		{"map key", base(), mod(func(v *inner) { v.M = map[string]any{"j": []int{1}} })},
		{"nil vs empty map", mod(func(v *inner) { v.M = nil }), mod(func(v *inner) { v.M = map[string]any{} })},
		{"array", base(), mod(func(v *inner) { v.Arr[1] = 3 })},
		{"NaN", mod(func(v *inner) { v.Arr[0] = math.NaN() }), mod(func(v *inner) { v.Arr[0] = math.NaN() })},
		{"func set", mod(func(v *inner) { v.F = fn }), mod(func(v *inner) { v.F = fn })},
		{"interface dynamic type", base(), mod(func(v *inner) { v.I = "x" })},
		{"interface pointer target", base(), mod(func(v *inner) { *v.I.(ir.StringMatch).Exact = "z" })},
		{"nested list", base(), mod(func(v *inner) { v.List[0].S = "other" })},
		{"list length", base(), mod(func(v *inner) { v.List = append(v.List, nil) })},
		{"IR routes", &ir.HTTPRoute{Name: "r", Hostname: "h", HeaderMatches: []ir.StringMatch{{Name: "x"}}},
			&ir.HTTPRoute{Name: "r", Hostname: "h", HeaderMatches: []ir.StringMatch{{Name: "x"}}}},
		{"IR routes differ", &ir.HTTPRoute{Name: "r", Destination: &ir.RouteDestination{Name: "a"}},
			&ir.HTTPRoute{Name: "r", Destination: &ir.RouteDestination{Name: "b"}}},
	}
	for _, c := range cases {
		if got, want := Equal(c.a, c.b), reflect.DeepEqual(c.a, c.b); got != want {
			t.Errorf("%s: Equal = %v, reflect.DeepEqual = %v", c.name, got, want)
		}
	}
	same := base()
	if !Equal(same, same) {
		t.Error("a value differs from itself")
	}
}

func BenchmarkEqualRoutes(b *testing.B) {
	mk := func() *ir.HTTPRoute {
		return &ir.HTTPRoute{Name: "httproute/default/r/rule/0/match/0/h", Hostname: "h", PathMatch: &ir.StringMatch{Prefix: new(string)},
			Destination: &ir.RouteDestination{Name: "d", Settings: []*ir.DestinationSetting{{Name: "s",
				Endpoints: []*ir.DestinationEndpoint{{Host: "10.0.0.1", Port: 80}}}}}}
	}
	x, y := mk(), mk()
	b.Run("treeequal", func(b *testing.B) {
		for b.Loop() {
			Equal(x, y)
		}
	})
	b.Run("reflect.DeepEqual", func(b *testing.B) {
		for b.Loop() {
			reflect.DeepEqual(x, y)
		}
	})
}
