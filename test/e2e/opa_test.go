package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/examples/opa-ext-authz/authz"
	"github.com/portico-gw/portico/internal/proxy/filters/jwtauthn/jwttest"
)

// guideToken is the OPA guide's VALID_TOKEN: RS256, kid
// b520b3c2c4bd75a10e9cebc9576933dc (a key of examples/opa-ext-authz/jwks.json),
// iss https://foo.bar.com, no exp.
const guideToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImI1MjBiM2MyYzRiZDc1YTEwZTljZWJjOTU3NjkzM2RjIn0.eyJpc3MiOiJodHRwczovL2Zvby5iYXIuY29tIiwic3ViIjoiMTIzNDU2Nzg5MCIsInVzZXIiOnsibmFtZSI6IkpvaG4gRG9lIiwiZW1haWwiOiJqb2huLmRvZUBleGFtcGxlLmNvbSIsInJvbGVzIjpbImFkbWluIiwiZWRpdG9yIl19LCJwcmVtaXVtX3VzZXIiOnRydWUsImlhdCI6MTUxNjIzOTAyMiwic2NvcGUiOiJyZWFkIGFkZCBkZWxldGUgbW9kaWZ5In0.P36iAlmiRCC79OiB3vstF5Q_9OqUYAMGF3a3H492GlojbV6DcuOz8YIEYGsRSWc-BNJaBKlyvUKsKsGVPtYbbF8ajwZTs64wyO-zhd2R8riPkg_HsW7iwGswV12f5iVRpfQ4AG2owmdOToIaoch0aym89He1ZzEjcShr9olgqlAbbmhnk-namd1rP-xpzPnWhhIVI3mCz5hYYgDTMcM7qbokM5FzFttTRXAn5_Luor23U1062Ct_K53QArwxBvwJ-QYiqcBycHf-hh6sMx_941cUswrZucCpa-EwA3piATf9PKAyeeWHfHV9X-y8ipGOFg3mYMMVBuUZ1lBkJCik9f9kboRY6QzpOISARQj9PKMXfxZdIPNuGmA7msSNAXQgqkvbx04jMwb9U7eCEdGZztH4C8LhlRjgj0ZdD7eNbRjeH2F6zrWyMUpGWaWyq6rMuP98W2DWM5ZflK6qvT1c7FuFsWPvWLkgxQwTWQKrHdKwdbsu32Sj8VtUBJ0-ddEb"

func opaConfig() *egv1a1.EnvoyGateway {
	cfg := &egv1a1.EnvoyGateway{}
	cfg.ExtensionAPIs = &egv1a1.ExtensionAPISettings{EnableBackend: true}
	return cfg
}

// opaAuthorizer runs the example authorizer with the guide's policy on a
// unix socket, as the sidecar does; stop ends it.
func opaAuthorizer(t *testing.T, sock, allowedIss string) (stop func()) {
	t.Helper()
	srv, err := authz.New(context.Background(), authz.Config{Query: "data.envoy.authz.allow",
		Modules: map[string]string{"policy.rego": readExample(t, "opa-ext-authz", "policy.rego")},
		Env:     map[string]string{"ALLOWED_ISS": allowedIss}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := authz.Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, l); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// opaScenario is the guide's YAML (examples/opa-ext-authz) with this
// test's ports, backend, JWKS server and socket.
func opaScenario(t *testing.T, gw, backendPort int, jwksURL, sock string, withOrder bool) map[string]string {
	g := readExample(t, "opa-ext-authz", "manifests", "gateway.yaml")
	g = strings.Replace(g, "port: 80\n", fmt.Sprintf("port: %d\n", gw), 1)
	g = strings.Replace(g, "spec:\n  ports:", "spec:\n  clusterIP: 127.0.0.1\n  ports:", 1)
	g = strings.ReplaceAll(g, "3000", fmt.Sprint(backendPort))
	o := readExample(t, "opa-ext-authz", "manifests", "opa.yaml")
	o = strings.Replace(o, "http://127.0.0.1:8000/jwks.json", jwksURL, 1)
	o = strings.Replace(o, "/tmp/portico-opa/opa.sock", sock, 1)
	if !withOrder {
		o = strings.Replace(o, "  filterOrder:\n    - name: envoy.filters.http.ext_authz\n      after: envoy.filters.http.jwt_authn\n", "", 1)
	}
	return map[string]string{"gateway.yaml": g, "opa.yaml": o}
}

// jwksServer serves the example's JWKS plus the keys given.
func jwksServer(t *testing.T, extra ...*jwttest.Key) string {
	t.Helper()
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(readExample(t, "opa-ext-authz", "jwks.json")), &doc); err != nil {
		t.Fatal(err)
	}
	var mine struct {
		Keys []json.RawMessage `json:"keys"`
	}
	_ = json.Unmarshal(jwttest.JWKS(extra...), &mine)
	doc.Keys = append(doc.Keys, mine.Keys...)
	body, _ := json.Marshal(doc)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(s.Close)
	return s.URL + "/jwks.json"
}

func (e *env) bearer(host, token string, hdr ...string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/get", e.gwPort), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOPASidecarGuide is Envoy Gateway's "OPA Sidecar with Unix Domain
// Socket" task through the built-in proxy: jwt_authn verifies the token and
// copies its iss to x-jwt-iss, then (filterOrder) ext_authz asks the OPA
// authorizer on a unix socket, whose policy compares it with ALLOWED_ISS.
func TestOPASidecarGuide(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "opa.sock")
	stop := opaAuthorizer(t, sock, "https://example.com")
	mine := jwttest.NewKey("portico-test", "RS256")
	allowedToken := mine.Sign(map[string]any{"iss": "https://example.com", "sub": "1234"})
	gw := freePort(t)
	e := startWith(t, opaConfig(), opaScenario(t, gw, backend(t, "backend"), jwksServer(t, mine), sock, true), gw)
	e.eventually("the open route answers", func() bool { return e.bearer("open.example.com", "") == http.StatusOK })
	cases := []struct {
		name  string
		host  string
		token string
		hdr   []string
		want  int
	}{
		{"no token", "www.example.com", "", nil, http.StatusUnauthorized},
		{"the guide's token: iss https://foo.bar.com is not allowed", "www.example.com", guideToken, nil, http.StatusForbidden},
		{"iss https://example.com is allowed", "www.example.com", allowedToken, nil, http.StatusOK},
		{"a spoofed x-jwt-iss is replaced by the token's", "www.example.com", guideToken, []string{"X-Jwt-Iss", "https://example.com"}, http.StatusForbidden},
		{"a tampered token", "www.example.com", allowedToken[:len(allowedToken)-4] + "AAAA", nil, http.StatusUnauthorized},
		{"the route without the label is open", "open.example.com", "", nil, http.StatusOK},
	}
	for _, c := range cases {
		if got := e.bearer(c.host, c.token, c.hdr...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	_, st := e.admin("/status")
	// The guide's EnvoyProxy (its deployment patch adds the OPA sidecar in
	// Kubernetes) is accepted and says what does not apply here.
	for _, want := range []string{"opa-jwt-authz", "Policy has been accepted.",
		"In standalone mode these fields have no effect: spec.provider.type, spec.provider.kubernetes."} {
		if !strings.Contains(string(st), want) {
			t.Errorf("/status lacks %q", want)
		}
	}
	if strings.Contains(string(st), "spec.jwt is not supported") {
		t.Error("/status still reports jwt as unsupported")
	}
	// The authorizer goes away: the route fails closed (status_on_error 403),
	// the open route is untouched.
	stop()
	if got := e.bearer("www.example.com", allowedToken); got != http.StatusForbidden {
		t.Errorf("authorizer down: %d, want 403", got)
	}
	if got := e.bearer("open.example.com", ""); got != http.StatusOK {
		t.Errorf("authorizer down, open route: %d, want 200", got)
	}
}

// TestOPAWithoutFilterOrder shows why the guide sets filterOrder: in
// Envoy Gateway's default order ext_authz runs before jwt_authn, so OPA
// never sees x-jwt-iss and denies even an allowed issuer.
func TestOPAWithoutFilterOrder(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "opa.sock")
	opaAuthorizer(t, sock, "https://example.com")
	mine := jwttest.NewKey("portico-test", "RS256")
	allowedToken := mine.Sign(map[string]any{"iss": "https://example.com"})
	gw := freePort(t)
	e := startWith(t, opaConfig(), opaScenario(t, gw, backend(t, "backend"), jwksServer(t, mine), sock, false), gw)
	e.eventually("the open route answers", func() bool { return e.bearer("open.example.com", "") == http.StatusOK })
	if got := e.bearer("www.example.com", allowedToken); got != http.StatusForbidden {
		t.Errorf("without filterOrder: %d, want 403", got)
	}
}

// allowAllAuthorizer serves the example authorizer with a policy that
// allows everything on a unix socket until the test ends: through wrap
// (nil: as it is), on a gRPC server with opts.
func allowAllAuthorizer(t *testing.T, sock string, wrap func(*authz.Server) authv3.AuthorizationServer, opts ...grpc.ServerOption) {
	t.Helper()
	srv, err := authz.New(context.Background(), authz.Config{Modules: map[string]string{"p.rego": "package envoy.authz\ndefault allow := true\n"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := authz.Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	var as authv3.AuthorizationServer = srv
	if wrap != nil {
		as = wrap(srv)
	}
	g := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(g, as)
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
}

// slowAuthorizer is an authorizer (the example's, allowing everything)
// that answers each check after delay.
func slowAuthorizer(t *testing.T, sock string, delay time.Duration) {
	t.Helper()
	allowAllAuthorizer(t, sock, func(s *authz.Server) authv3.AuthorizationServer { return slowCheck{s, delay} })
}

type slowCheck struct {
	*authz.Server
	delay time.Duration
}

func (s slowCheck) Check(ctx context.Context, r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Server.Check(ctx, r)
}
