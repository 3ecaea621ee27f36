package jwtauthn

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/filters/jwtauthn/jwttest"
)

// BenchmarkServe is one request through the filter with a cached key set:
// parse, checks, signature, claim headers and metadata.
func BenchmarkServe(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA", "HS256"} {
		b.Run(alg, func(b *testing.B) {
			k := jwttest.NewKey("k1", alg)
			p := remoteProvider("")
			p.JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
				Specifier: &corev3.DataSource_InlineString{InlineString: string(jwttest.JWKS(k))}}}
			f, err := Compile(FilterName, config(p, nil), func() time.Time { return now })
			if err != nil {
				b.Fatal(err)
			}
			token := "Bearer " + k.Sign(claims(nil))
			pr := &perRoute{requirement: reqName}
			w := httptest.NewRecorder()
			u := get("").URL
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r := &http.Request{Method: "GET", Host: "x", Header: http.Header{"Authorization": {token}}, URL: u}
				s := &filters.Stream{Request: r, Writer: w}
				s.SetPerRoute(map[string]any{FilterName: pr})
				passed := false
				f.Serve(s, func(*filters.Stream) { passed = true })
				if !passed {
					b.Fatal("rejected")
				}
			}
		})
	}
}
