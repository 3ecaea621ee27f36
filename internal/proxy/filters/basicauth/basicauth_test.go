package basicauth

import (
	"crypto/sha1" //nolint:gosec // test of the {SHA} format
	"encoding/base64"
	"net/http/httptest"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/portico-gw/portico/internal/proxy/filters"
)

func htpasswd(user, pass string) string {
	sum := sha1.Sum([]byte(pass)) //nolint:gosec // test
	return user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
}

func build(t *testing.T, m proto.Message) filters.Filter {
	t.Helper()
	a, _ := anypb.New(m)
	f, ok := filters.Lookup(filters.TypeURL("envoy.extensions.filters.http.basic_auth.v3.BasicAuth"))
	if !ok {
		t.Fatal("basic_auth not registered")
	}
	flt, err := f.New("envoy.filters.http.basic_auth/p", a, filters.BuildContext{})
	if err != nil {
		t.Fatal(err)
	}
	return flt
}

type result struct {
	code      int
	body, www string
	user      string
}

func serve(f filters.Filter, auth string, perRoute any) result {
	r := httptest.NewRequest("GET", "http://www.example.com/example?x=1", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	var res result
	s := &filters.Stream{Request: r, Writer: w}
	if perRoute != nil {
		s.SetPerRoute(map[string]any{"envoy.filters.http.basic_auth/p": perRoute})
	}
	s.LocalReply = func(code int, body, _ string) { res.code, res.body = code, body }
	f.Serve(s, func(s *filters.Stream) { res.code = 200; res.user = s.Request.Header.Get("X-Example-Ext") })
	res.www = w.Header().Get("www-authenticate")
	return res
}

func basic(u, p string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))
}

func TestBasicAuth(t *testing.T) {
	f := build(t, &basicauthv3.BasicAuth{
		Users:                 &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(htpasswd("user", "p@ssw0rd"))}},
		ForwardUsernameHeader: "X-Example-Ext",
	})
	r := serve(f, "", nil)
	if r.code != 401 || r.body != msgMissing || r.www != `Basic realm="http://www.example.com/example?x=1"` {
		t.Errorf("missing: %+v", r)
	}
	if r := serve(f, basic("user", "wrong"), nil); r.code != 401 || r.body != msgWrong {
		t.Errorf("wrong: %+v", r)
	}
	if r := serve(f, "Bearer x", nil); r.code != 401 || r.body != msgScheme {
		t.Errorf("scheme: %+v", r)
	}
	if r := serve(f, basic("user", "p@ssw0rd"), nil); r.code != 200 || r.user != "user" {
		t.Errorf("ok: %+v", r)
	}
	// A per-route user list replaces the listener's.
	pf, _ := filters.LookupPerRoute(filters.TypeURL("envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute"))
	a, _ := anypb.New(&basicauthv3.BasicAuthPerRoute{Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: htpasswd("other", "pw")}}})
	pr, err := pf.PerRoute(a)
	if err != nil {
		t.Fatal(err)
	}
	if r := serve(f, basic("user", "p@ssw0rd"), pr); r.code != 401 {
		t.Errorf("per-route: listener user accepted: %+v", r)
	}
	if r := serve(f, basic("other", "pw"), pr); r.code != 200 || r.user != "other" {
		t.Errorf("per-route: %+v", r)
	}
}

func TestBadUsers(t *testing.T) {
	for _, u := range []string{"user:plaintext\n", "user:{SHA}nothash\n", htpasswd("a", "b") + htpasswd("a", "c")} {
		a, _ := anypb.New(&basicauthv3.BasicAuth{Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: u}}})
		f, _ := filters.Lookup(filters.TypeURL("envoy.extensions.filters.http.basic_auth.v3.BasicAuth"))
		if _, err := f.New("x", a, filters.BuildContext{}); err == nil {
			t.Errorf("accepted %q", u)
		}
	}
}
