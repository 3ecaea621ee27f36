package statefulsession

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	statefulsessionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/stateful_session/v3"
	cookiev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/cookie/v3"
	headerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/stateful_session/header/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/type/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portico-gw/portico/internal/proxy/filters"
	"github.com/portico-gw/portico/internal/proxy/streaminfo"
)

const name = "envoy.filters.http.stateful_session"

func state(t *testing.T, m proto.Message, ext string) *statefulsessionv3.StatefulSession {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return &statefulsessionv3.StatefulSession{SessionState: &corev3.TypedExtensionConfig{Name: ext, TypedConfig: a}}
}

func cookieState(t *testing.T, ck *httpv3.Cookie) *statefulsessionv3.StatefulSession {
	return state(t, &cookiev3.CookieBasedSessionState{Cookie: ck}, "envoy.http.stateful_session.cookie")
}

func headerState(t *testing.T, h string) *statefulsessionv3.StatefulSession {
	return state(t, &headerv3.HeaderBasedSessionState{Name: h}, "envoy.http.stateful_session.header")
}

// build makes the filter as Envoy Gateway configures it: a disabled-by-
// default listener entry (its own config irrelevant) and the route's
// StatefulSessionPerRoute.
func build(t *testing.T, route *statefulsessionv3.StatefulSessionPerRoute) (filters.Filter, any) {
	t.Helper()
	fac, ok := filters.Lookup(filters.TypeURL("envoy.extensions.filters.http.stateful_session.v3.StatefulSession"))
	if !ok {
		t.Fatal("stateful_session not registered")
	}
	a, _ := anypb.New(&statefulsessionv3.StatefulSession{})
	f, err := fac.New(name, a, filters.BuildContext{})
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := anypb.New(route)
	pr, err := fac.PerRoute(pa)
	if err != nil {
		t.Fatal(err)
	}
	return f, pr
}

func enc(addr string) string { return base64.StdEncoding.EncodeToString([]byte(addr)) }

// router stands in for the proxy's: the override host when it is one of
// hosts (as cluster.PickOverride), else round robin over hosts.
type router struct {
	hosts []string
	next  int
}

func (rt *router) serve(s *filters.Stream) {
	h := s.UpstreamOverrideHost
	if !slices.Contains(rt.hosts, h) {
		h = rt.hosts[rt.next%len(rt.hosts)]
		rt.next++
	}
	s.Info.UpstreamHost = h
	s.Writer.WriteHeader(http.StatusOK)
}

type exchange struct {
	override, host string
	header         http.Header
}

func do(f filters.Filter, perRoute any, rt *router, path string, reqHeader http.Header) exchange {
	r := httptest.NewRequest("GET", "http://example.com"+path, nil)
	for k, v := range reqHeader {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	s := &filters.Stream{Request: r, Writer: w, Info: &streaminfo.StreamInfo{}}
	if perRoute != nil {
		s.SetPerRoute(map[string]any{name: perRoute})
	}
	var ex exchange
	f.Serve(s, func(s *filters.Stream) { ex.override = s.UpstreamOverrideHost; rt.serve(s) })
	ex.host, ex.header = s.Info.UpstreamHost, w.Header()
	return ex
}

func TestCookieSession(t *testing.T) {
	const a, b = "10.0.0.1:8080", "10.0.0.2:8080"
	f, pr := build(t, &statefulsessionv3.StatefulSessionPerRoute{Override: &statefulsessionv3.StatefulSessionPerRoute_StatefulSession{
		StatefulSession: cookieState(t, &httpv3.Cookie{Name: "sticky", Path: "/app", Ttl: durationpb.New(time.Hour)})}})
	rt := &router{hosts: []string{a, b}}
	cookie := func(v string) http.Header { return http.Header{"Cookie": {"sticky=" + v}} }

	// No cookie: the balancer picks, the response names its pick.
	ex := do(f, pr, rt, "/app/x", nil)
	if ex.override != "" || ex.host != a {
		t.Fatalf("first request: override %q host %q", ex.override, ex.host)
	}
	want := `sticky="` + enc(a) + `"; Max-Age=3600; Path=/app; HttpOnly`
	if got := ex.header.Get("Set-Cookie"); got != want {
		t.Fatalf("Set-Cookie = %q, want %q", got, want)
	}

	// The cookie (quoted, as set, or bare) pins the host; nothing is set.
	for _, v := range []string{`"` + enc(b) + `"`, enc(b)} {
		for range 3 {
			ex = do(f, pr, rt, "/app", cookie(v))
			if ex.override != b || ex.host != b || ex.header.Get("Set-Cookie") != "" {
				t.Fatalf("cookie %s: override %q host %q Set-Cookie %q", v, ex.override, ex.host, ex.header.Get("Set-Cookie"))
			}
		}
	}

	// A stale cookie (its host left the cluster) and a garbled one: the
	// balancer picks and the cookie is set again.
	for _, v := range []string{enc("10.0.0.9:8080"), "%%%not-base64"} {
		ex = do(f, pr, rt, "/app", cookie(v))
		if ex.host == "10.0.0.9:8080" || !strings.HasPrefix(ex.header.Get("Set-Cookie"), `sticky="`+enc(ex.host)+`"`) {
			t.Fatalf("cookie %s: host %q Set-Cookie %q", v, ex.host, ex.header.Get("Set-Cookie"))
		}
	}

	// Outside the cookie's path the session does not apply: a browser
	// would not send the cookie there.
	for _, p := range []string{"/application", "/", "/other/app"} {
		ex = do(f, pr, rt, p, cookie(enc(b)))
		if ex.override != "" || ex.header.Get("Set-Cookie") != "" {
			t.Fatalf("path %s: override %q Set-Cookie %q", p, ex.override, ex.header.Get("Set-Cookie"))
		}
	}
}

// Without a ttl the cookie is a session cookie (no Max-Age).
func TestSessionCookieHasNoMaxAge(t *testing.T) {
	f, pr := build(t, &statefulsessionv3.StatefulSessionPerRoute{Override: &statefulsessionv3.StatefulSessionPerRoute_StatefulSession{
		StatefulSession: cookieState(t, &httpv3.Cookie{Name: "s", Path: "/"})}})
	ex := do(f, pr, &router{hosts: []string{"10.0.0.1:80"}}, "/anything", nil)
	if got, want := ex.header.Get("Set-Cookie"), `s="`+enc("10.0.0.1:80")+`"; Path=/; HttpOnly`; got != want {
		t.Fatalf("Set-Cookie = %q, want %q", got, want)
	}
}

func TestHeaderSession(t *testing.T) {
	const a, b = "10.0.0.1:8080", "10.0.0.2:8080"
	f, pr := build(t, &statefulsessionv3.StatefulSessionPerRoute{Override: &statefulsessionv3.StatefulSessionPerRoute_StatefulSession{
		StatefulSession: headerState(t, "session-a")}})
	rt := &router{hosts: []string{a, b}}
	ex := do(f, pr, rt, "/", nil)
	if ex.host != a || ex.header.Get("Session-A") != enc(a) || ex.header.Get("Set-Cookie") != "" {
		t.Fatalf("first: host %q header %v", ex.host, ex.header)
	}
	ex = do(f, pr, rt, "/any/path", http.Header{"Session-A": {enc(b)}})
	if ex.override != b || ex.host != b || ex.header.Get("Session-A") != "" {
		t.Fatalf("pinned: override %q host %q header %v", ex.override, ex.host, ex.header)
	}
	ex = do(f, pr, rt, "/", http.Header{"Session-A": {enc("10.0.0.3:1")}})
	if ex.header.Get("Session-A") != enc(ex.host) {
		t.Fatalf("stale: host %q header %v", ex.host, ex.header)
	}
}

// A route that disables the filter, and a route without per-route config
// under a listener entry without session state, pass requests untouched.
func TestDisabledAndEmpty(t *testing.T) {
	f, pr := build(t, &statefulsessionv3.StatefulSessionPerRoute{Override: &statefulsessionv3.StatefulSessionPerRoute_Disabled{Disabled: true}})
	for _, p := range []any{pr, nil} {
		ex := do(f, p, &router{hosts: []string{"10.0.0.1:80"}}, "/", http.Header{"Cookie": {"sticky=" + enc("10.0.0.2:80")}})
		if ex.override != "" || len(ex.header) != 0 {
			t.Fatalf("perRoute %v: override %q header %v", p, ex.override, ex.header)
		}
	}
}

// A local reply (no upstream host) names no host.
func TestLocalReplySetsNothing(t *testing.T) {
	f, pr := build(t, &statefulsessionv3.StatefulSessionPerRoute{Override: &statefulsessionv3.StatefulSessionPerRoute_StatefulSession{
		StatefulSession: cookieState(t, &httpv3.Cookie{Name: "s"})}})
	w := httptest.NewRecorder()
	s := &filters.Stream{Request: httptest.NewRequest("GET", "/", nil), Writer: w, Info: &streaminfo.StreamInfo{}}
	s.SetPerRoute(map[string]any{name: pr})
	f.Serve(s, func(s *filters.Stream) { s.Writer.WriteHeader(http.StatusServiceUnavailable) })
	if got := w.Header().Get("Set-Cookie"); got != "" {
		t.Fatalf("Set-Cookie = %q", got)
	}
}

// Settings the filter cannot honour are config errors (a NACK), by name.
func TestRejects(t *testing.T) {
	unknown, _ := anypb.New(wrapperspb.String("x"))
	for _, tc := range []struct {
		name string
		cfg  *statefulsessionv3.StatefulSession
		want string
	}{
		{"strict", func() *statefulsessionv3.StatefulSession {
			c := headerState(t, "h")
			c.Strict = true
			return c
		}(), "strict"},
		{"stat_prefix", func() *statefulsessionv3.StatefulSession {
			c := headerState(t, "h")
			c.StatPrefix = "x"
			return c
		}(), "stat_prefix"},
		{"cookie attributes", cookieState(t, &httpv3.Cookie{Name: "s", Attributes: []*httpv3.CookieAttribute{{Name: "SameSite", Value: "Lax"}}}), "attributes are not supported"},
		{"cookie without name", cookieState(t, &httpv3.Cookie{Path: "/"}), "Cookie.Name"},
		{"header without name", headerState(t, ""), "Name"},
		{"header name with a space", headerState(t, "a b"), `"a b" is not a header name`},
		{"cookie name with a semicolon", cookieState(t, &httpv3.Cookie{Name: "a;b"}), `"a;b" is not a cookie name`},
		{"other session state", &statefulsessionv3.StatefulSession{SessionState: &corev3.TypedExtensionConfig{Name: "x", TypedConfig: unknown}}, "is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fac, _ := filters.Lookup(filters.TypeURL("envoy.extensions.filters.http.stateful_session.v3.StatefulSession"))
			a, _ := anypb.New(tc.cfg)
			_, err := fac.New(name, a, filters.BuildContext{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err %v, want it to mention %q", err, tc.want)
			}
			pa, _ := anypb.New(&statefulsessionv3.StatefulSessionPerRoute{Override: &statefulsessionv3.StatefulSessionPerRoute_StatefulSession{StatefulSession: tc.cfg}})
			if _, err := fac.PerRoute(pa); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PerRoute: err %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
