package jwtauthn

import (
	"bytes"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/proxy/filters/jwtauthn/jwttest"
)

// FuzzParseToken feeds arbitrary tokens to the parser and the verifier:
// they must never panic, and nothing but a token signed by the key may
// verify.
func FuzzParseToken(f *testing.F) {
	k := jwttest.NewKey("k1", "HS256")
	ks, err := parseJWKS(jwttest.JWKS(k))
	if err != nil {
		f.Fatal(err)
	}
	valid := k.Sign(map[string]any{"iss": "i", "exp": 2_000_000_000})
	want, _ := parseToken(valid)
	for _, s := range []string{valid, "", "a.b.c", "..", jwttest.Unsigned(map[string]any{"iss": "i"}),
		"eyJhbGciOiJSUzI1NiJ9.e30.", valid[:len(valid)-3]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, st := parseToken(raw)
		if st != StatusOK {
			if tok != nil {
				t.Fatal("a failed parse returned a token")
			}
			return
		}
		_ = tok.checkTime(time.Unix(1_800_000_000, 0), 60)
		_ = tok.audienceAllowed([]string{"a"})
		// HMAC is deterministic: only the signed input with its own
		// signature (however encoded) may verify.
		if _, ok := ks.verify(tok); ok && (tok.signingInput() != want.signingInput() || !bytes.Equal(tok.signature, want.signature)) {
			t.Fatalf("%q verified", raw)
		}
	})
}

// FuzzParseJWKS: a JWKS document of any shape is parsed or refused,
// never a panic.
func FuzzParseJWKS(f *testing.F) {
	f.Add(string(jwttest.JWKS(jwttest.NewKey("a", "ES256"), jwttest.NewKey("b", "EdDSA"))))
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)
	f.Add(`{"keys":{}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, doc string) {
		ks, err := parseJWKS([]byte(doc))
		if err == nil && len(ks) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}
