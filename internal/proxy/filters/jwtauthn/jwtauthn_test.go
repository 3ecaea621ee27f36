package jwtauthn

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/portico-gw/portico/internal/proxy/filters/filtertest"
	"github.com/portico-gw/portico/internal/proxy/filters/jwtauthn/jwttest"
)

const (
	issuer   = "https://example.com"
	reqName  = "req"
	provName = "example_ced70d98fe975d58"
)

var now = time.Unix(1_800_000_000, 0)

// jwksServer serves a JWKS document that tests can change, counting hits.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	doc  []byte
	code int
	hits atomic.Int64
	gate chan struct{} // when set, answers wait for it
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	s := &jwksServer{doc: doc, code: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.gate != nil {
			<-s.gate
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.WriteHeader(s.code)
		_, _ = w.Write(s.doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte) { s.mu.Lock(); s.doc = doc; s.mu.Unlock() }

func remoteProvider(uri string) *jwtv3.JwtProvider {
	return &jwtv3.JwtProvider{
		Issuer:                     issuer,
		Audiences:                  []string{"foo.com"},
		Forward:                    true,
		PayloadInMetadata:          "example",
		NormalizePayloadInMetadata: &jwtv3.JwtProvider_NormalizePayload{SpaceDelimitedClaims: []string{"scope", "scp"}},
		ClaimToHeaders:             []*jwtv3.JwtClaimToHeader{{HeaderName: "x-jwt-iss", ClaimName: "iss"}, {HeaderName: "x-name", ClaimName: "user.name"}},
		JwksSourceSpecifier: &jwtv3.JwtProvider_RemoteJwks{RemoteJwks: &jwtv3.RemoteJwks{
			HttpUri:       &corev3.HttpUri{Uri: uri, HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: "jwks"}, Timeout: durationpb.New(2 * time.Second)},
			CacheDuration: durationpb.New(300 * time.Second),
			AsyncFetch:    &jwtv3.JwksAsyncFetch{},
		}},
	}
}

func config(p *jwtv3.JwtProvider, req *jwtv3.JwtRequirement) *jwtv3.JwtAuthentication {
	if req == nil {
		req = &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: provName}}
	}
	return &jwtv3.JwtAuthentication{
		Providers:      map[string]*jwtv3.JwtProvider{provName: p},
		RequirementMap: map[string]*jwtv3.JwtRequirement{reqName: req},
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func mustCompile(t *testing.T, c *jwtv3.JwtAuthentication, now func() time.Time) *Filter {
	t.Helper()
	f, err := Compile(FilterName, c, now)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func get(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://www.example.com/get?x=1", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func run(f *Filter, r *http.Request, jwksURL string) *filtertest.Result {
	return filtertest.Run(f, r, filtertest.Options{
		PerRoute:  map[string]any{FilterName: &perRoute{requirement: reqName}},
		Upstreams: filtertest.Clusters{"jwks": jwksURL},
	})
}

func claims(extra map[string]any) map[string]any {
	c := map[string]any{"iss": issuer, "aud": "foo.com", "sub": "1234", "exp": now.Unix() + 3600,
		"scope": "read write", "user": map[string]any{"name": "John"}}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func TestTokens(t *testing.T) {
	good := jwttest.NewKey("k1", "RS256")
	other := jwttest.NewKey("k1", "RS256") // same kid, another key
	hmacKey := jwttest.NewKey("h1", "HS256")
	srv := newJWKSServer(t, jwttest.JWKS(good))
	f := mustCompile(t, config(remoteProvider(srv.URL+"/jwks.json"), nil), func() time.Time { return now })
	hdr := `{"alg":"RS256","kid":"k1"}`
	b64 := func(s string) string {
		return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(encodeStd(s)), "=")
	}
	valid := good.Sign(claims(nil))
	parts := strings.Split(valid, ".")

	cases := []struct {
		name  string
		token string
		code  int
		body  Status
	}{
		{"valid", valid, 200, ""},
		{"missing", "", 401, StatusMissing},
		{"expired", good.Sign(claims(map[string]any{"exp": now.Unix() - 61})), 401, StatusExpired},
		{"expired within the clock skew", good.Sign(claims(map[string]any{"exp": now.Unix() - 59})), 200, ""},
		{"not yet valid", good.Sign(claims(map[string]any{"nbf": now.Unix() + 120})), 401, StatusNotYetValid},
		{"alg none", jwttest.Unsigned(claims(nil)), 401, StatusHeaderNotImplAlg},
		{"wrong key", other.Sign(claims(nil)), 401, StatusVerificationFail},
		{"HMAC with an RSA JWKS (algorithm confusion)", hmacKey.Sign(claims(nil)), 401, StatusJwksKidAlgMismatch},
		{"wrong issuer", good.Sign(claims(map[string]any{"iss": "https://evil.example"})), 401, StatusUnknownIssuer},
		{"no issuer", good.Sign(claims(map[string]any{"iss": nil})), 401, StatusUnknownIssuer},
		{"wrong audience", good.Sign(claims(map[string]any{"aud": []string{"bar.com"}})), 403, StatusAudienceNotAllowed},
		{"audience with a scheme", good.Sign(claims(map[string]any{"aud": "https://foo.com/"})), 200, ""},
		{"oversized", good.Sign(claims(map[string]any{"pad": strings.Repeat("x", maxTokenBytes)})), 401, StatusVerificationFail},
		{"two sections", parts[0] + "." + parts[1], 401, StatusBadFormat},
		{"header not base64url", "ab+c." + parts[1] + "." + parts[2], 401, StatusHeaderBadBase64},
		{"header not JSON", b64("{alg") + "." + parts[1] + "." + parts[2], 401, StatusHeaderBadJSON},
		{"alg not a string", b64(`{"alg":1}`) + "." + parts[1] + "." + parts[2], 401, StatusHeaderBadAlg},
		{"payload not base64url", b64(hdr) + ".a+b." + parts[2], 401, StatusPayloadBadBase64},
		{"payload not JSON", b64(hdr) + "." + b64("[1") + "." + parts[2], 401, StatusPayloadBadJSON},
		{"exp not an integer", b64(hdr) + "." + b64(`{"iss":"https://example.com","exp":"soon"}`) + "." + parts[2], 401, StatusExpNotInteger},
		{"signature not base64url", parts[0] + "." + parts[1] + ".a/b", 401, StatusSignatureBadBase64},
		{"tampered payload", parts[0] + "." + b64(`{"iss":"https://example.com","aud":"foo.com","admin":true}`) + "." + parts[2], 401, StatusVerificationFail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := run(f, get(c.token), srv.URL)
			if res.Code != c.code || Status(res.Body) != c.body {
				t.Fatalf("got %d %q, want %d %q", res.Code, res.Body, c.code, c.body)
			}
			if c.code == 200 {
				return
			}
			if res.Passed {
				t.Fatal("a rejected request reached the upstream")
			}
			want := `Bearer realm="http://www.example.com/get"`
			if c.body != StatusMissing {
				want += `, error="invalid_token"`
			}
			if got := res.Header.Get("Www-Authenticate"); got != want {
				t.Fatalf("www-authenticate %q, want %q", got, want)
			}
			if wantD := "jwt_authn_access_denied{" + strings.ReplaceAll(string(c.body), " ", "_") + "}"; res.Details != wantD {
				t.Fatalf("details %q, want %q", res.Details, wantD)
			}
		})
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1 (cached)", n)
	}
}

func encodeStd(s string) string {
	const tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b strings.Builder
	in := []byte(s)
	for len(in) > 0 {
		var v uint
		n := min(3, len(in))
		for i := range 3 {
			v <<= 8
			if i < n {
				v |= uint(in[i])
			}
		}
		for i := range 4 {
			if i <= n {
				b.WriteByte(tbl[(v>>(18-6*i))&63])
			} else {
				b.WriteByte('=')
			}
		}
		in = in[n:]
	}
	return b.String()
}

func TestOutputs(t *testing.T) {
	k := jwttest.NewKey("k1", "ES256")
	srv := newJWKSServer(t, jwttest.JWKS(k))
	p := remoteProvider(srv.URL)
	p.Forward = false
	p.ForwardPayloadHeader = "x-payload"
	f := mustCompile(t, config(p, nil), func() time.Time { return now })
	r := get(k.Sign(claims(nil)))
	r.Header.Set("X-Jwt-Iss", "https://spoofed.example")
	res := run(f, r, srv.URL)
	if !res.Passed {
		t.Fatalf("rejected: %d %s", res.Code, res.Body)
	}
	fw := res.Forwarded
	if got := fw.Header.Get("x-jwt-iss"); got != issuer {
		t.Fatalf("x-jwt-iss %q (claim headers replace what the client sent)", got)
	}
	if got := fw.Header.Get("x-name"); got != "John" {
		t.Fatalf("x-name %q", got)
	}
	if fw.Header.Get("Authorization") != "" {
		t.Fatal("forward: false should remove the token")
	}
	if fw.Header.Get("x-payload") == "" {
		t.Fatal("forward_payload_header not set")
	}
	md := res.Stream.LookupDynamicMetadata(FilterName)["example"].(map[string]any)
	if sc, ok := md["scope"].([]any); !ok || len(sc) != 2 || sc[0] != "read" {
		t.Fatalf("scope in metadata %#v, want a list", md["scope"])
	}
}

func TestAlgorithms(t *testing.T) {
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			k := jwttest.NewKey("k-"+alg, alg)
			k.OmitAlg = alg == "RS256" || alg == "EdDSA" // keys without "alg" match by type
			p := remoteProvider("")
			p.JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
				Specifier: &corev3.DataSource_InlineString{InlineString: string(jwttest.JWKS(k))}}}
			f := mustCompile(t, config(p, nil), func() time.Time { return now })
			if res := run(f, get(k.Sign(claims(nil))), ""); res.Code != 200 {
				t.Fatalf("%d %s", res.Code, res.Body)
			}
		})
	}
}

func TestBadJWKS(t *testing.T) {
	k := jwttest.NewKey("k1", "RS256")
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	cases := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"unreachable", func(*testing.T) string { return deadURL }},
		{"malformed", func(t *testing.T) string { return newJWKSServer(t, []byte(`{"keys":[`)).URL }},
		{"empty", func(t *testing.T) string { return newJWKSServer(t, []byte(`{"keys":[]}`)).URL }},
		{"not found", func(t *testing.T) string { s := newJWKSServer(t, nil); s.code = 404; return s.URL }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.url(t)
			f := mustCompile(t, config(remoteProvider(u), nil), func() time.Time { return now })
			res := run(f, get(k.Sign(claims(nil))), u)
			if res.Code != 401 || Status(res.Body) != StatusJwksFetchFail || res.Passed {
				t.Fatalf("got %d %q", res.Code, res.Body)
			}
		})
	}
	t.Run("invalid local JWKS is a config error", func(t *testing.T) {
		p := remoteProvider("")
		p.JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: `{"keys":[]}`}}}
		if _, err := Compile(FilterName, config(p, nil), time.Now); err == nil || !strings.Contains(err.Error(), string(StatusJwksNoValidKeys)) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRequirements(t *testing.T) {
	k := jwttest.NewKey("k1", "RS256")
	srv := newJWKSServer(t, jwttest.JWKS(k))
	prov := func(n string) *jwtv3.JwtRequirement {
		return &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: n}}
	}
	anyOf := func(rs ...*jwtv3.JwtRequirement) *jwtv3.JwtRequirement {
		return &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_RequiresAny{RequiresAny: &jwtv3.JwtRequirementOrList{Requirements: rs}}}
	}
	allowMissing := &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}}
	allowFailed := &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_AllowMissingOrFailed{AllowMissingOrFailed: &emptypb.Empty{}}}
	second := remoteProvider(srv.URL)
	second.Issuer = "https://two.example.com"
	valid, expired := k.Sign(claims(nil)), k.Sign(claims(map[string]any{"exp": now.Unix() - 3600}))
	two := k.Sign(claims(map[string]any{"iss": "https://two.example.com"}))
	cases := []struct {
		name  string
		req   *jwtv3.JwtRequirement
		token string
		code  int
	}{
		{"optional, no token", anyOf(prov(provName), allowMissing), "", 200},
		{"optional, valid", anyOf(prov(provName), allowMissing), valid, 200},
		{"optional, expired", anyOf(prov(provName), allowMissing), expired, 401},
		{"allow missing or failed, expired", anyOf(prov(provName), allowFailed), expired, 200},
		{"any of two providers, second issuer", anyOf(prov(provName), prov("two")), two, 200},
		{"any of two providers, unknown issuer", anyOf(prov(provName), prov("two")), k.Sign(claims(map[string]any{"iss": "https://x"})), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config(remoteProvider(srv.URL), c.req)
			cfg.Providers["two"] = second
			f := mustCompile(t, cfg, func() time.Time { return now })
			if res := run(f, get(c.token), srv.URL); res.Code != c.code {
				t.Fatalf("got %d %s, want %d", res.Code, res.Body, c.code)
			}
		})
	}
	t.Run("a route without a per-route config is not checked", func(t *testing.T) {
		f := mustCompile(t, config(remoteProvider(srv.URL), nil), func() time.Time { return now })
		if res := filtertest.Run(f, get(""), filtertest.Options{}); !res.Passed {
			t.Fatal("rejected")
		}
	})
}

func TestJWKSCacheAndRotation(t *testing.T) {
	old, rotated := jwttest.NewKey("old", "RS256"), jwttest.NewKey("new", "RS256")
	srv := newJWKSServer(t, jwttest.JWKS(old))
	clk := &clock{t: now}
	f := mustCompile(t, config(remoteProvider(srv.URL), nil), clk.now)
	for range 20 {
		if res := run(f, get(old.Sign(claims(nil))), srv.URL); res.Code != 200 {
			t.Fatalf("%d %s", res.Code, res.Body)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 requests, want 1", n)
	}
	// The issuer rotates: a burst of tokens with the new kid shares one
	// refetch, held open until every request is waiting on it.
	srv.set(jwttest.JWKS(rotated))
	clk.add(2 * time.Second)
	srv.gate = make(chan struct{})
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range codes {
		wg.Go(func() { codes[i] = run(f, get(rotated.Sign(claims(nil))), srv.URL).Code })
	}
	for srv.hits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(srv.gate)
	wg.Wait()
	srv.gate = nil
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d: %d", i, c)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after the rotation burst, want 2", n)
	}
	// A kid nobody has does not refetch on every request.
	stranger := jwttest.NewKey("stranger", "RS256")
	for range 10 {
		if res := run(f, get(stranger.Sign(claims(nil))), srv.URL); res.Code != 401 {
			t.Fatalf("%d", res.Code)
		}
	}
	if n := srv.hits.Load(); n > 3 {
		t.Fatalf("%d fetches: unknown kids must not refetch each time", n)
	}
	// After cache_duration the set is fetched again.
	before := srv.hits.Load()
	clk.add(301 * time.Second)
	run(f, get(rotated.Sign(claims(nil))), srv.URL)
	if srv.hits.Load() != before+1 {
		t.Fatal("expired cache was not refreshed")
	}
}

// A verified token is cached, but its time and audience are checked on
// every request, and a new key set invalidates it.
func TestTokenCacheStillChecksTime(t *testing.T) {
	k := jwttest.NewKey("k1", "RS256")
	srv := newJWKSServer(t, jwttest.JWKS(k))
	clk := &clock{t: now}
	f := mustCompile(t, config(remoteProvider(srv.URL), nil), clk.now)
	tok := k.Sign(claims(map[string]any{"exp": now.Unix() + 100}))
	for range 3 {
		if res := run(f, get(tok), srv.URL); res.Code != 200 {
			t.Fatalf("%d %s", res.Code, res.Body)
		}
	}
	clk.add(200 * time.Second)
	if res := run(f, get(tok), srv.URL); res.Code != 401 || Status(res.Body) != StatusExpired {
		t.Fatalf("cached token after exp: %d %s", res.Code, res.Body)
	}
	// The key is withdrawn: once the cached set expires and is fetched
	// again, a token cached under the old set no longer passes.
	tok2 := k.Sign(claims(map[string]any{"exp": now.Unix() + 10000}))
	if res := run(f, get(tok2), srv.URL); res.Code != 200 {
		t.Fatalf("%d %s", res.Code, res.Body)
	}
	srv.set(jwttest.JWKS(jwttest.NewKey("k2", "RS256")))
	clk.add(301 * time.Second)
	if res := run(f, get(tok2), srv.URL); res.Code != 401 {
		t.Fatalf("token of a withdrawn key: %d %s", res.Code, res.Body)
	}
}
