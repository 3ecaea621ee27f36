package gatewayapi

import (
	"reflect"
	"testing"

	"github.com/portico-gw/portico/internal/ir"
)

func TestSortRoutesPrecedence(t *testing.T) {
	prefix := func(name, p string, headers, query int) *ir.HTTPRoute {
		r := &ir.HTTPRoute{Name: name, PathMatch: &ir.StringMatch{Prefix: ptr(p)}}
		for i := 0; i < headers; i++ {
			r.HeaderMatches = append(r.HeaderMatches, ir.StringMatch{Name: "h", Exact: ptr("v")})
		}
		for i := 0; i < query; i++ {
			r.QueryParamMatches = append(r.QueryParamMatches, ir.StringMatch{Name: "q", Exact: ptr("v")})
		}
		return r
	}
	routes := []*ir.HTTPRoute{
		prefix("root", "/", 0, 0),
		prefix("foo", "/foo", 0, 0),
		prefix("foo-1h", "/foo", 1, 0),
		prefix("foo-1q", "/foo", 0, 1),
		{Name: "regex", PathMatch: &ir.StringMatch{SafeRegex: ptr("/r.*")}},
		{Name: "exact", PathMatch: &ir.StringMatch{Exact: ptr("/x")}},
		{Name: "method", PathMatch: &ir.StringMatch{Prefix: ptr("/foo")}, HeaderMatches: []ir.StringMatch{{Name: ":method", Exact: ptr("GET")}}},
		prefix("root-tie", "/", 0, 0),
	}
	sortRoutes(routes)
	var got []string
	for _, r := range routes {
		got = append(got, r.Name)
	}
	want := []string{"exact", "regex", "method", "foo-1h", "foo-1q", "foo", "root", "root-tie"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}
