package gatewayapi

import (
	"reflect"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestIntersectHostnames(t *testing.T) {
	tests := []struct {
		name     string
		listener string
		route    []gwapiv1.Hostname
		want     []string
	}{
		{"both empty", "", nil, []string{"*"}},
		{"listener only", "foo.com", nil, []string{"foo.com"}},
		{"route only", "", []gwapiv1.Hostname{"a.com", "b.com"}, []string{"a.com", "b.com"}},
		{"exact match", "foo.com", []gwapiv1.Hostname{"foo.com", "bar.com"}, []string{"foo.com"}},
		{"listener wildcard covers route", "*.example.com", []gwapiv1.Hostname{"www.example.com", "example.com", "a.b.example.com"}, []string{"www.example.com", "a.b.example.com"}},
		{"route wildcard covers listener", "www.example.com", []gwapiv1.Hostname{"*.example.com"}, []string{"www.example.com"}},
		{"narrower wildcard wins", "*.example.com", []gwapiv1.Hostname{"*.foo.example.com"}, []string{"*.foo.example.com"}},
		{"no intersection", "foo.com", []gwapiv1.Hostname{"bar.com", "*.foo.com"}, nil},
		{"duplicates collapse", "", []gwapiv1.Hostname{"a.com", "a.com"}, []string{"a.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := intersectHostnames(tc.listener, tc.route)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("intersectHostnames(%q, %v) = %v, want %v", tc.listener, tc.route, got, tc.want)
			}
		})
	}
}
