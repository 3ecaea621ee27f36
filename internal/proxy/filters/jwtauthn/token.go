package jwtauthn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Status is one of Envoy's JWT verification outcomes; its text is the body
// of the 401/403 Envoy answers with (jwt_verify_lib's status strings).
type Status string

// The statuses the filter can report.
const (
	StatusOK                 Status = ""
	StatusMissing            Status = "Jwt is missing"
	StatusNotYetValid        Status = "Jwt not yet valid"
	StatusExpired            Status = "Jwt is expired"
	StatusBadFormat          Status = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
	StatusHeaderBadBase64    Status = "Jwt header is an invalid Base64url encoded"
	StatusHeaderBadJSON      Status = "Jwt header is an invalid JSON"
	StatusHeaderBadAlg       Status = "Jwt header [alg] field is required and must be a string"
	StatusHeaderNotImplAlg   Status = "Jwt header [alg] is not supported"
	StatusHeaderBadKid       Status = "Jwt header [kid] field is not a string"
	StatusPayloadBadBase64   Status = "Jwt payload is an invalid Base64url encoded"
	StatusPayloadBadJSON     Status = "Jwt payload is an invalid JSON"
	StatusIssNotString       Status = "Jwt payload [iss] field is not a string"
	StatusSubNotString       Status = "Jwt payload [sub] field is not a string"
	StatusIatNotInteger      Status = "Jwt payload [iat] field is not an integer"
	StatusIatOutOfRange      Status = "Jwt payload [iat] field is not a positive 64 bit integer"
	StatusNbfNotInteger      Status = "Jwt payload [nbf] field is not an integer"
	StatusNbfOutOfRange      Status = "Jwt payload [nbf] field is not a positive 64 bit integer"
	StatusExpNotInteger      Status = "Jwt payload [exp] field is not an integer"
	StatusExpOutOfRange      Status = "Jwt payload [exp] field is not a positive 64 bit integer"
	StatusJtiNotString       Status = "Jwt payload [jti] field is not a string"
	StatusAudNotString       Status = "Jwt payload [aud] field is not a string or string list"
	StatusSignatureBadBase64 Status = "Jwt signature is an invalid Base64url encoded"
	StatusUnknownIssuer      Status = "Jwt issuer is not configured"
	StatusAudienceNotAllowed Status = "Audiences in Jwt are not allowed"
	StatusVerificationFail   Status = "Jwt verification fails"
	StatusJwksKidAlgMismatch Status = "Jwks doesn't have key to match kid or alg from Jwt"
	StatusJwksFetchFail      Status = "Jwks remote fetch is failed"
	StatusJwksNoValidKeys    Status = "Jwks doesn't have any valid public key"
	StatusJwksParseError     Status = "Jwks is an invalid JSON"
)

// maxTokenBytes bounds what the filter decodes. Envoy has no limit of its
// own beyond the header size limit; a token past this size fails
// verification rather than costing a large decode.
const maxTokenBytes = 64 << 10

// supportedAlgs are the algorithms Envoy's jwt_verify_lib implements.
var supportedAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"HS256": true, "HS384": true, "HS512": true,
	"EdDSA": true,
}

// token is a parsed, not yet verified, JWT.
type token struct {
	raw        string
	alg        string
	kid        string
	iss        string
	aud        []string
	exp, nbf   int64
	payload    map[string]any
	payloadB64 string
	signature  []byte
	// metadata is the payload as the provider puts it in metadata, made
	// once when the token verifies (cached tokens are shared).
	metadata map[string]any
}

// parseToken decodes a compact JWT the way jwt_verify_lib does, reporting
// the first problem with its status.
func parseToken(raw string) (*token, Status) {
	if len(raw) > maxTokenBytes {
		return nil, StatusVerificationFail
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, StatusBadFormat
	}
	t := &token{raw: raw, payloadB64: parts[1]}
	hb, ok := decodeSegment(parts[0])
	if !ok {
		return nil, StatusHeaderBadBase64
	}
	var hdr map[string]any
	if err := decodeJSON(hb, &hdr); err != nil || hdr == nil {
		return nil, StatusHeaderBadJSON
	}
	alg, ok := hdr["alg"].(string)
	if !ok {
		return nil, StatusHeaderBadAlg
	}
	if !supportedAlgs[alg] {
		return nil, StatusHeaderNotImplAlg
	}
	t.alg = alg
	if k, present := hdr["kid"]; present {
		if t.kid, ok = k.(string); !ok {
			return nil, StatusHeaderBadKid
		}
	}
	pb, ok := decodeSegment(parts[1])
	if !ok {
		return nil, StatusPayloadBadBase64
	}
	if err := decodeJSON(pb, &t.payload); err != nil || t.payload == nil {
		return nil, StatusPayloadBadJSON
	}
	if st := t.readClaims(); st != StatusOK {
		return nil, st
	}
	if t.signature, ok = decodeSegment(parts[2]); !ok {
		return nil, StatusSignatureBadBase64
	}
	return t, StatusOK
}

// readClaims checks the types of the registered claims.
func (t *token) readClaims() Status {
	p := t.payload
	if v, ok := p["iss"]; ok {
		s, ok := v.(string)
		if !ok {
			return StatusIssNotString
		}
		t.iss = s
	}
	if v, ok := p["sub"]; ok {
		if _, ok := v.(string); !ok {
			return StatusSubNotString
		}
	}
	if v, ok := p["jti"]; ok {
		if _, ok := v.(string); !ok {
			return StatusJtiNotString
		}
	}
	var st Status
	if _, st = intClaim(p, "iat", StatusIatNotInteger, StatusIatOutOfRange); st != StatusOK {
		return st
	}
	if t.nbf, st = intClaim(p, "nbf", StatusNbfNotInteger, StatusNbfOutOfRange); st != StatusOK {
		return st
	}
	if t.exp, st = intClaim(p, "exp", StatusExpNotInteger, StatusExpOutOfRange); st != StatusOK {
		return st
	}
	switch a := p["aud"].(type) {
	case nil:
		if _, present := p["aud"]; present {
			return StatusAudNotString
		}
	case string:
		t.aud = []string{a}
	case []any:
		for _, v := range a {
			s, ok := v.(string)
			if !ok {
				return StatusAudNotString
			}
			t.aud = append(t.aud, s)
		}
	default:
		return StatusAudNotString
	}
	return StatusOK
}

func intClaim(p map[string]any, name string, notInt, outOfRange Status) (int64, Status) {
	v, ok := p[name]
	if !ok {
		return 0, StatusOK
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, notInt
	}
	if i, err := n.Int64(); err == nil {
		if i < 0 {
			return 0, outOfRange
		}
		return i, StatusOK
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) {
		return 0, notInt
	}
	return 0, outOfRange
}

// checkTime is jwt_verify_lib's verifyTimeConstraint: nbf and exp with
// the provider's clock skew.
func (t *token) checkTime(now time.Time, skew int64) Status {
	sec := now.Unix()
	if t.nbf != 0 && t.nbf > sec+skew {
		return StatusNotYetValid
	}
	if t.exp != 0 && sec > t.exp+skew {
		return StatusExpired
	}
	return StatusOK
}

// audienceAllowed reports whether one of the token's audiences is in the
// allowed list (an empty list allows any). Envoy compares audiences
// without a scheme and trailing slash.
func (t *token) audienceAllowed(allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range t.aud {
		na := normalizeAudience(a)
		for _, b := range allowed {
			if na == normalizeAudience(b) {
				return true
			}
		}
	}
	return false
}

func normalizeAudience(a string) string {
	a = strings.TrimPrefix(a, "http://")
	a = strings.TrimPrefix(a, "https://")
	return strings.TrimSuffix(a, "/")
}

// signingInput is what the signature covers.
func (t *token) signingInput() string {
	return t.raw[:strings.LastIndexByte(t.raw, '.')]
}

// decodeSegment decodes base64url with or without padding.
func decodeSegment(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	return b, err == nil
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errTrailing
	}
	return nil
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

const errTrailing = jsonError("trailing data after JSON value")
