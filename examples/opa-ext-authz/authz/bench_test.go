package authz

import (
	"context"
	"os"
	"testing"
)

// BenchmarkCheck is one decision of the guide's policy: the input
// document and the evaluation, without the transport.
func BenchmarkCheck(b *testing.B) {
	src, err := os.ReadFile("../policy.rego")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(context.Background(), Config{Query: "data.envoy.authz.allow",
		Modules: map[string]string{"policy.rego": string(src)}, Env: map[string]string{"ALLOWED_ISS": "https://example.com"}})
	if err != nil {
		b.Fatal(err)
	}
	req := check("https://example.com", "/get?a=1")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := s.Check(context.Background(), req)
		if err != nil || resp.GetStatus().GetCode() != 0 {
			b.Fatal(resp, err)
		}
	}
}
