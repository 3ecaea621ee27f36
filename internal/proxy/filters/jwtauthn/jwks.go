package jwtauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// key is one usable public (or HMAC) key of a JWKS.
type key struct {
	kid    string
	alg    string // "" when the JWK does not say
	family string // "RSA", "EC-P256", "EC-P384", "EC-P521", "OKP", "oct"
	raw    any
}

// keySet is a parsed JWKS.
type keySet []key

// parseJWKS reads a JWKS document. Keys that cannot be used are skipped;
// a set left without any is an error, as in Envoy.
func parseJWKS(b []byte) (keySet, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s", StatusJwksParseError)
	}
	raw, ok := doc["keys"]
	if !ok {
		return nil, fmt.Errorf("Jwks does not have [keys] field")
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("[keys] in Jwks is not an array")
	}
	var out keySet
	for _, kb := range keys {
		k, err := jwk.ParseKey(kb)
		if err != nil {
			continue
		}
		if k2, ok := usableKey(k); ok {
			out = append(out, k2)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s", StatusJwksNoValidKeys)
	}
	return out, nil
}

func usableKey(k jwk.Key) (key, bool) {
	var out key
	out.kid, _ = k.KeyID()
	if a, ok := k.Algorithm(); ok {
		out.alg = a.String()
	}
	if u, ok := k.KeyUsage(); ok && u != "" && u != "sig" {
		return out, false
	}
	var raw any
	if err := jwk.Export(k, &raw); err != nil {
		return out, false
	}
	switch r := raw.(type) {
	case *ecdsa.PrivateKey:
		raw = &r.PublicKey
	}
	out.raw = raw
	switch k.KeyType() {
	case jwa.RSA():
		out.family = "RSA"
	case jwa.OKP():
		out.family = "OKP"
	case jwa.OctetSeq():
		out.family = "oct"
	case jwa.EC():
		pk, ok := raw.(*ecdsa.PublicKey)
		if !ok {
			return out, false
		}
		switch pk.Curve {
		case elliptic.P256():
			out.family = "EC-P256"
		case elliptic.P384():
			out.family = "EC-P384"
		case elliptic.P521():
			out.family = "EC-P521"
		default:
			return out, false
		}
	default:
		return out, false
	}
	return out, true
}

// algFamily is the key family an algorithm needs.
func algFamily(alg string) string {
	switch alg[:2] {
	case "RS", "PS":
		return "RSA"
	case "HS":
		return "oct"
	case "Ed":
		return "OKP"
	}
	switch alg {
	case "ES256":
		return "EC-P256"
	case "ES384":
		return "EC-P384"
	}
	return "EC-P521"
}

// verify checks the token's signature against the keys that match its kid
// and alg, as jwt_verify_lib does: a JWK with a kid must match the token's
// kid, a JWK with an alg must match its alg, and the key type must suit
// the algorithm. found is false when no key was a candidate.
func (ks keySet) verify(t *token) (found, ok bool) {
	alg, known := jwa.LookupSignatureAlgorithm(t.alg)
	if !known {
		return false, false
	}
	fam := algFamily(t.alg)
	for _, k := range ks {
		if t.kid != "" && k.kid != "" && k.kid != t.kid {
			continue
		}
		if k.alg != "" && k.alg != t.alg {
			continue
		}
		if k.family != fam {
			continue
		}
		found = true
		if _, err := jws.VerifyCompactFast(k.raw, []byte(t.raw), alg); err == nil {
			return true, true
		}
	}
	return found, false
}

// hasKid reports whether a key could match the token's kid (for deciding
// whether a refetch after a key rotation may help).
func (ks keySet) hasKid(kid string) bool {
	if kid == "" {
		return true
	}
	for _, k := range ks {
		if k.kid == kid || k.kid == "" {
			return true
		}
	}
	return false
}
