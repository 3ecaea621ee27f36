// Package jwttest makes signing keys, their JWKS and signed tokens for
// tests and benchmarks of JWT verification (the proxy's jwt_authn filter,
// the OPA example, end-to-end tests).
package jwttest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Key is a signing key with its key id and algorithm.
type Key struct {
	Kid string
	Alg string
	// Priv is the signing key: *rsa.PrivateKey, *ecdsa.PrivateKey,
	// ed25519.PrivateKey or []byte (HMAC).
	Priv any
	// OmitAlg leaves "alg" out of the key's JWK (many issuers do).
	OmitAlg bool
}

// NewKey makes a fresh key for alg (RS*, PS*, ES256/384/512, EdDSA, HS*).
func NewKey(kid, alg string) *Key {
	k := &Key{Kid: kid, Alg: alg}
	var err error
	switch alg[:2] {
	case "RS", "PS":
		k.Priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES":
		curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		k.Priv, err = ecdsa.GenerateKey(curve, rand.Reader)
	case "Ed":
		_, k.Priv, err = ed25519.GenerateKey(rand.Reader)
	case "HS":
		b := make([]byte, 32)
		_, err = rand.Read(b)
		k.Priv = b
	default:
		err = fmt.Errorf("unknown algorithm %q", alg)
	}
	if err != nil {
		panic(err)
	}
	return k
}

func (k *Key) public() any {
	switch p := k.Priv.(type) {
	case *rsa.PrivateKey:
		return &p.PublicKey
	case *ecdsa.PrivateKey:
		return &p.PublicKey
	case ed25519.PrivateKey:
		return p.Public()
	}
	return k.Priv
}

// JWK is the key's public JWK.
func (k *Key) JWK() jwk.Key {
	j, err := jwk.Import(k.public())
	if err != nil {
		panic(err)
	}
	if k.Kid != "" {
		_ = j.Set(jwk.KeyIDKey, k.Kid)
	}
	if !k.OmitAlg {
		alg, _ := jwa.LookupSignatureAlgorithm(k.Alg)
		_ = j.Set(jwk.AlgorithmKey, alg)
	}
	return j
}

// JWKS is a JWKS document holding the keys' public JWKs.
func JWKS(keys ...*Key) []byte {
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k.JWK()); err != nil {
			panic(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// Sign makes a compact JWT with the claims, signed by k.
func (k *Key) Sign(claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	h := jws.NewHeaders()
	_ = h.Set("typ", "JWT")
	if k.Kid != "" {
		_ = h.Set(jws.KeyIDKey, k.Kid)
	}
	alg, _ := jwa.LookupSignatureAlgorithm(k.Alg)
	out, err := jws.Sign(payload, jws.WithKey(alg, k.Priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		panic(err)
	}
	return string(out)
}

// Unsigned is a token with alg "none" and an empty signature.
func Unsigned(claims map[string]any) string {
	hdr, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload) + "."
}
